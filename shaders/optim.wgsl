// Optimizer updates on f32 elements (any parameter count); the rules are in optim_rules.wgsl.
alias VT = f32;
#include optim_rules
