// Optimizer updates on vec4<f32> elements (parameter count a multiple of 4); the rules are in
// optim_rules.wgsl.
alias VT = vec4<f32>;
#include optim_rules
