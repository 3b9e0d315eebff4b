// Losses fused with their gradient with respect to the network output, one invocation per row.
// Rows r >= active (the unused tail of a last partial batch) get zero loss, zero gradient and
// are not counted, so a padded batch trains exactly like a short one.
//   loss_bce:        z = logits [B,N], y targets [B,N] in [0,1]
//                    l = max(z,0) - z*y + log(1 + exp(-|z|))     (stable for any |z|)
//                    dz = (sigmoid(z) - y) / (active*N); row loss = mean over N;
//                    correct = every output (z > 0) == (y > 0.5)
//   loss_softmax_ce: z = logits [B,N], labels [B] (u32), label smoothing eps in [0, 1)
//                    q = (1-eps)*onehot(y) + eps/N (PyTorch's CrossEntropyLoss(label_smoothing))
//                    l = -sum_j q_j log softmax(z)_j
//                      = (1-eps)*(logsumexp(z) - z[y]) + eps*(logsumexp(z) - mean_j z_j);
//                    dz = (softmax(z) - q) / active; correct = first argmax == y.
//                    eps = 0 (the default) takes exactly the plain cross-entropy's path.
//   loss_mse:        a = outputs [B,N], y [B,N]; l = mean_j (a-y)^2; da = 2(a-y)/(active*N);
//                    correct = N > 1 ? argmax(a) == argmax(y) : (a >= .5) == (y >= .5)
// stats[3r..3r+3] = (row loss, 1 if correct else 0, 1 if the row is active). Gradients OVERWRITE
// `grad`. Counting active rows here lets the accumulator stay free of per-step uniforms.
// SCALED (mixed precision): every dz above is also multiplied by the loss scale (amp.wgsl).

struct Params {
  rows: u32,
  cols: u32,
  live_rows: u32,
  // loss_softmax_ce only: the label smoothing eps; 0 for plain cross-entropy.
  smoothing: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> outp: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
// Mixed precision: the loss scaler's state (amp.wgsl); word 0 is the scale as f32 bits. With
// SCALED the gradient (not the loss) is multiplied by it.
@group(0) @binding(6) var<storage, read> amp: array<u32>;

override SCALED: bool = false;

fn grad_scale() -> f32 {
  return select(1.0, bitcast<f32>(amp[0]), SCALED);
}

override WG: u32 = 64u;

fn softplus_neg_abs(z: f32) -> f32 {
  // log(1 + exp(-|z|)): the argument of log is in (1, 2], so this never overflows.
  return log(1.0 + exp(-abs(z)));
}

fn sigmoid_stable(z: f32) -> f32 {
  if (z >= 0.0) {
    return 1.0 / (1.0 + exp(-z));
  }
  let e = exp(z);
  return e / (1.0 + e);
}

fn zero_row(r: u32) {
  let base = r * params.cols;
  for (var j = 0u; j < params.cols; j++) {
    grad[base + j] = 0.0;
  }
  stats[3u * r] = 0.0;
  stats[3u * r + 1u] = 0.0;
  stats[3u * r + 2u] = 0.0;
}

@compute @workgroup_size(WG)
fn loss_bce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= params.rows) {
    return;
  }
  if (r >= params.live_rows) {
    zero_row(r);
    return;
  }
  let n = params.cols;
  let scale = grad_scale() / f32(params.live_rows * n);
  let base = r * n;
  var loss = 0.0;
  var ok = true;
  for (var j = 0u; j < n; j++) {
    let z = outp[base + j];
    let y = targets[base + j];
    loss += max(z, 0.0) - z * y + softplus_neg_abs(z);
    grad[base + j] = (sigmoid_stable(z) - y) * scale;
    ok = ok && ((z > 0.0) == (y > 0.5));
  }
  stats[3u * r + 2u] = 1.0;
  stats[3u * r] = loss / f32(n);
  stats[3u * r + 1u] = select(0.0, 1.0, ok);
}

@compute @workgroup_size(WG)
fn loss_softmax_ce(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= params.rows) {
    return;
  }
  if (r >= params.live_rows) {
    zero_row(r);
    return;
  }
  let n = params.cols;
  let base = r * n;
  let y = labels[r];
  var mx = outp[base];
  var arg = 0u;
  for (var j = 1u; j < n; j++) {
    let z = outp[base + j];
    if (z > mx) {
      mx = z;
      arg = j;
    }
  }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    sum += exp(outp[base + j] - mx);
  }
  let inv = 1.0 / sum;
  let scale = grad_scale() / f32(params.live_rows);
  let eps = params.smoothing;
  let hit = 1.0 - eps;
  let spread = eps / f32(n);
  var zsum = 0.0;
  for (var j = 0u; j < n; j++) {
    let z = outp[base + j];
    let p = exp(z - mx) * inv;
    // eps = 0: hit = 1 and spread = 0, so this is exactly p - onehot(y).
    grad[base + j] = (p - (select(0.0, hit, j == y) + spread)) * scale;
    zsum += z - mx;
  }
  // logsumexp - z_y, with logsumexp = mx + log(sum); a label out of range reads as loss +inf-free 0
  // here, but the data layer rejects such labels before they reach the GPU.
  let zy = outp[base + min(y, n - 1u)];
  let lse = mx + log(sum);
  var loss = lse - zy;
  if (eps > 0.0) {
    // logsumexp - mean_j z_j = log(sum) - mean_j (z_j - mx): no large values to cancel.
    loss = hit * loss + eps * (log(sum) - zsum / f32(n));
  }
  stats[3u * r + 2u] = 1.0;
  stats[3u * r] = loss;
  stats[3u * r + 1u] = select(0.0, 1.0, arg == y);
}

@compute @workgroup_size(WG)
fn loss_mse(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= params.rows) {
    return;
  }
  if (r >= params.live_rows) {
    zero_row(r);
    return;
  }
  let n = params.cols;
  let base = r * n;
  let scale = 2.0 * grad_scale() / f32(params.live_rows * n);
  var loss = 0.0;
  var am = 0u;
  var ym = 0u;
  for (var j = 0u; j < n; j++) {
    let a = outp[base + j];
    let y = targets[base + j];
    let d = a - y;
    loss += d * d;
    grad[base + j] = d * scale;
    if (a > outp[base + am]) {
      am = j;
    }
    if (y > targets[base + ym]) {
      ym = j;
    }
  }
  stats[3u * r + 2u] = 1.0;
  stats[3u * r] = loss / f32(n);
  var ok = am == ym;
  if (n == 1u) {
    ok = (outp[base] >= 0.5) == (targets[base] >= 0.5);
  }
  stats[3u * r + 1u] = select(0.0, 1.0, ok);
}
