// Geometry and resampling for turbo.c, in plain C on 8-bit interleaved pixels: the EXIF
// orientation map (src/data/exif.ts), preprocess.ts's centre-crop window, and its separable
// resampler (area average when shrinking, bilinear with half-pixel centres when growing) over a
// window that may start and end between pixels.
#include "resample.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int swaps(int o) { return o >= 5 && o <= 8; }

/** The stored pixel shown at (x, y) of the upright picture; w, h are the stored sides (exif.ts). */
void stored_pixel(int o, int x, int y, int w, int h, int *sx, int *sy) {
  switch (o) {
  case 2: *sx = w - 1 - x; *sy = y; break;
  case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;
  case 4: *sx = x; *sy = h - 1 - y; break;
  case 5: *sx = y; *sy = x; break;
  case 6: *sx = y; *sy = h - 1 - x; break;
  case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;
  case 8: *sx = w - 1 - y; *sy = x; break;
  default: *sx = x; *sy = y;
  }
}

/** Math.round for the non-negative values used here. */
static int round_half_up(double v) { return (int)floor(v + 0.5); }

/** preprocess.ts's centre-crop window of an upright w x h picture: sides cw x ch at (x0, y0). */
void crop_window(int crop, int w, int h, int out_w, int out_h, int *x0, int *y0, int *cw, int *ch) {
  double aspect = (double)out_w / (double)out_h;
  *cw = w;
  *ch = h;
  if (crop) {
    if ((double)w / (double)h > aspect) {
      *cw = round_half_up(h * aspect);
      if (*cw < 1) *cw = 1;
    } else {
      *ch = round_half_up(w / aspect);
      if (*ch < 1) *ch = 1;
    }
  }
  *x0 = (w - *cw) / 2;
  *y0 = (h - *ch) / 2;
}

/** One axis's resampling taps (preprocess.ts's axisTaps): for output o, `count[o]` source pixels
 * from `first[o]` with weights `wt[o * stride ..]`. */
typedef struct {
  int *first, *count;
  float *wt;
  int stride;
} Taps;

static void free_taps(Taps *t) {
  free(t->first);
  free(t->count);
  free(t->wt);
}

/**
 * Taps for out_n outputs from the window [start, start + len) of an axis of n pixels. The window
 * is fractional where the DCT scaled the picture: a window of a full-size picture keeps its exact
 * place (a centre crop at x = 62 of 500 starts at 15.5 of the 1/4-scale 125). Shrinking averages
 * the area each output covers; growing is bilinear with half-pixel centres, clamped to the window.
 * With scale 1 and an integer window this is preprocess.ts's axisTaps.
 */
static int make_taps(int n, double start, double len, int out_n, Taps *t) {
  double scale = len / out_n;
  int area = out_n <= len;
  t->stride = area ? (int)ceil(scale) + 2 : 2;
  t->first = malloc(sizeof(int) * out_n);
  t->count = malloc(sizeof(int) * out_n);
  t->wt = calloc((size_t)out_n * t->stride, sizeof(float));
  if (!t->first || !t->count || !t->wt) return 0;
  int lo = (int)floor(start), hi = (int)ceil(start + len) - 1;
  if (hi > n - 1) hi = n - 1;
  for (int o = 0; o < out_n; o++) {
    float *w = t->wt + (size_t)o * t->stride;
    if (area) {
      double a = start + o * scale, b = a + scale, sum = 0;
      int i0 = (int)floor(a), i1 = (int)ceil(b), k = 0;
      if (i1 > hi + 1) i1 = hi + 1;
      t->first[o] = i0;
      for (int i = i0; i < i1 && k < t->stride; i++) {
        double cover = fmin(b, i + 1.0) - fmax(a, (double)i);
        w[k++] = cover > 0 ? (float)cover : 0.0f;
        sum += cover > 0 ? cover : 0;
      }
      // Normalised by the covered length: exact inside, and no darkening at a clamped edge.
      for (int q = 0; q < k; q++) w[q] = (float)(w[q] / sum);
      t->count[o] = k;
    } else {
      double x = start + (o + 0.5) * scale - 0.5;
      x = x < lo ? lo : x > hi ? hi : x;
      int i0 = (int)floor(x);
      float f = (float)(x - i0);
      t->first[o] = i0;
      // One tap where the sample falls on a source pixel (an axis of equal size, the edges).
      t->count[o] = f > 0 && i0 + 1 <= hi ? 2 : 1;
      w[0] = t->count[o] == 2 ? 1.0f - f : 1.0f;
      w[1] = f;
    }
  }
  return 1;
}

/* Weights sum to 1 over samples in [0, 255], so only float error can pass 255: no branch. */
static inline unsigned char to_byte(float v) {
  v += 0.5f;
  return (unsigned char)(v < 255.0f ? v : 255.0f);
}

/** One output row of RGB from a float row, along the row's taps. */
static void row_rgb(const float *m, const Taps *tx, int out_w, unsigned char *o) {
  for (int x = 0; x < out_w; x++) {
    const float *w = tx->wt + (size_t)x * tx->stride;
    const float *p = m + (size_t)tx->first[x] * 3;
    float r = 0.0f, g = 0.0f, b = 0.0f;
    for (int t = 0, n = tx->count[x]; t < n; t++, p += 3) {
      r += w[t] * p[0];
      g += w[t] * p[1];
      b += w[t] * p[2];
    }
    o[3 * x] = to_byte(r);
    o[3 * x + 1] = to_byte(g);
    o[3 * x + 2] = to_byte(b);
  }
}

static void row_gray(const float *m, const Taps *tx, int out_w, unsigned char *o) {
  for (int x = 0; x < out_w; x++) {
    const float *w = tx->wt + (size_t)x * tx->stride;
    const float *p = m + tx->first[x];
    float v = 0.0f;
    for (int t = 0, n = tx->count[x]; t < n; t++) v += w[t] * p[t];
    o[x] = to_byte(v);
  }
}

/** Resamples the window [wx, wx + ww) x [wy, wy + wh) of src (sw x sh pixels, c channels) to
 * out_w x out_h: columns first, straight from the bytes into float rows whose inner loop runs
 * along the row (so the compiler vectorises it), then rows, rounded once. The map is the same
 * as preprocess.ts's rows-then-columns; only float rounding differs. */
int resample(const unsigned char *src, int sw, int sh, int c, double wx, double wy, double ww,
                    double wh, int out_w, int out_h, unsigned char *dst) {
  Taps tx = {0}, ty = {0};
  const int x0 = (int)floor(wx), x1 = (int)fmin(ceil(wx + ww), sw);
  const int in_len = (x1 - x0) * c, row_len = out_w * c;
  float *mid = malloc(sizeof(float) * (size_t)out_h * in_len);
  int ok = mid && make_taps(x1 - x0, wx - x0, ww, out_w, &tx) && make_taps(sh, wy, wh, out_h, &ty);
  // tx counts from x0, so each float row holds the window's columns only.
  for (int y = 0; ok && y < out_h; y++) {
    float *restrict m = mid + (size_t)y * in_len;
    const float *w = ty.wt + (size_t)y * ty.stride;
    for (int x = 0; x < in_len; x++) m[x] = 0.0f;
    for (int t = 0; t < ty.count[y]; t++) {
      const unsigned char *restrict row = src + ((size_t)(ty.first[y] + t) * sw + x0) * c;
      const float wt = w[t];
      for (int x = 0; x < in_len; x++) m[x] += wt * row[x];
    }
    unsigned char *o = dst + (size_t)y * row_len;
    if (c == 3) row_rgb(m, &tx, out_w, o);
    else row_gray(m, &tx, out_w, o);
  }
  free(mid);
  free_taps(&tx);
  free_taps(&ty);
  return ok;
}

/** dst (upright, sides swapped for 5-8) from src stored w x h with c channels. */
void orient(const unsigned char *src, int w, int h, int c, int o, unsigned char *dst) {
  int ow = swaps(o) ? h : w, oh = swaps(o) ? w : h;
  for (int y = 0; y < oh; y++) {
    for (int x = 0; x < ow; x++) {
      int sx, sy;
      stored_pixel(o, x, y, w, h, &sx, &sy);
      memcpy(dst + ((size_t)y * ow + x) * c, src + ((size_t)sy * w + sx) * c, c);
    }
  }
}
