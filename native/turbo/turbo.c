// The optional JPEG accelerator: libjpeg-turbo's TurboJPEG API reached from Node through plain
// N-API (node_api.h), one async work item per image so that several decode at once on libuv's
// threadpool. src/data/decode-turbo.ts loads it when it is built and sends it JPEGs only.
//
// decodeJpeg(bytes, outH, outW, channels, mode, orientation, maxPixels, flags) -> Promise<Uint8Array>
//   The picture upright (EXIF `orientation` 1-8, read by the caller), its centred window of the
//   target's aspect when mode is "center-crop" (the whole picture stretched when "resize"),
//   resampled to outH x outW, as HWC uint8 with `channels` 1 (the JPEG's luma plane, which is
//   BT.601 Y of the RGB) or 3 (RGB). The same rules as src/data/preprocess.ts:
//     - the crop window is the largest centred one of aspect outW/outH, rounded as Math.round;
//     - each axis is area-averaged when it shrinks and bilinear (half-pixel centres) when it grows,
//       in one separable pass through float, rounded once.
//   Steps: tjDecompressHeader3; the window placed in full-size pixels; the smallest TurboJPEG
//   scaling factor (1/2, 1/4, 1/8; every M/8 with flags bit 1) at which the window still covers
//   the target, so the DCT does the bulk of a large shrink; tjDecompress2 to RGB or GRAY; then
//   the (now fractional) window is resampled in the stored orientation and only the small result
//   is turned upright (flips and transposes commute with a separable resample).
// decodeJpegFull(bytes, orientation, maxPixels) -> Promise<{width, height, channels, data}>
//   The whole picture at its native size, upright: 1 channel for greyscale JPEGs, else 3.
//
// Failures reject with an Error whose `code` says which: ERR_JPEG_CORRUPT (the library's message:
// corrupt or truncated data; warnings count, as sharp's default does), ERR_JPEG_CMYK (CMYK and
// YCCK JPEGs, left to sharp, which converts them through their ICC profile), ERR_JPEG_TOO_LARGE
// (over maxPixels), ERR_NO_MEMORY.
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "resample.h"

#if defined(__has_include)
#if __has_include(<jconfig.h>)
#include <jconfig.h>
#endif
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#ifdef LIBJPEG_TURBO_VERSION
#define TURBO_VERSION STR(LIBJPEG_TURBO_VERSION)
#elif defined(TJFLAG_LIMITSCANS)
#define TURBO_VERSION "2.1"
#else
#define TURBO_VERSION "2.0"
#endif
#ifndef TJFLAG_LIMITSCANS
#define TJFLAG_LIMITSCANS 0
#endif

/** Bits of decodeJpeg's `flags`: which speed/quality trade-offs to take. */
enum { FLAG_ALL_SCALES = 1, FLAG_FAST_UPSAMPLE = 2, FLAG_FAST_DCT = 4 };
enum { OK = 0, E_CORRUPT, E_CMYK, E_TOO_LARGE, E_NO_MEMORY };
static const char *const CODES[] = {"", "ERR_JPEG_CORRUPT", "ERR_JPEG_CMYK", "ERR_JPEG_TOO_LARGE",
                                    "ERR_NO_MEMORY"};
#define MAX_SIDE 65535

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  const unsigned char *jpeg;
  unsigned long jpeg_size;
  int full; /* decodeJpegFull: native size, no crop or resample */
  int out_h, out_w, channels, crop, orientation, flags;
  double max_pixels;
  unsigned char *out;
  int width, height; /* of `out` */
  int status;
  char message[200];
} Job;

/** The smallest scaling factor at which the stored window ww x wh still covers rw x rh. */
static tjscalingfactor pick_scale(int flags, int ww, int wh, int rw, int rh) {
  tjscalingfactor best = {1, 1};
  int n = 0;
  tjscalingfactor *sf = tjGetScalingFactors(&n);
  double best_ratio = 1.0;
  for (int i = 0; sf && i < n; i++) {
    double r = (double)sf[i].num / sf[i].denom;
    if (r >= best_ratio) continue;
    // 1/2, 1/4, 1/8 only by default: libjpeg-turbo 2.1 has SIMD IDCTs for those, and its plain-C
    // 3/8 .. 7/8 ones decode slower than the full size does.
    if (!(flags & FLAG_ALL_SCALES) && sf[i].num != 1) continue;
    if (ww * r >= rw && wh * r >= rh) {
      best = sf[i];
      best_ratio = r;
    }
  }
  return best;
}

static void fail(Job *j, int status, const char *message) {
  j->status = status;
  snprintf(j->message, sizeof j->message, "%s", message);
}

/** The target's window in stored full-size pixels (x, y, w, h) for a stored w x h picture. */
static void stored_window(const Job *j, int w, int h, int win[4]) {
  const int o = j->orientation;
  int x0, y0, cw, ch, ax, ay, bx, by;
  crop_window(j->crop, swaps(o) ? h : w, swaps(o) ? w : h, j->out_w, j->out_h, &x0, &y0, &cw, &ch);
  stored_pixel(o, x0, y0, w, h, &ax, &ay);
  stored_pixel(o, x0 + cw - 1, y0 + ch - 1, w, h, &bx, &by);
  win[0] = ax < bx ? ax : bx;
  win[1] = ay < by ? ay : by;
  win[2] = abs(bx - ax) + 1;
  win[3] = abs(by - ay) + 1;
}

/** Reads the header, checks it, and decodes at `*s` (picked here unless j->full) into a new
 * buffer of *sw x *sh x *c. Returns NULL after fail(). */
static unsigned char *decompress(Job *j, tjhandle tj, int win[4], tjscalingfactor *s, int *sw, int *sh, int *c) {
  int w, h, subsamp, colorspace;
  if (tjDecompressHeader3(tj, j->jpeg, j->jpeg_size, &w, &h, &subsamp, &colorspace) != 0) {
    fail(j, E_CORRUPT, tjGetErrorStr2(tj));
    return NULL;
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    fail(j, E_CMYK, "CMYK JPEG: left to sharp, which converts it through its ICC profile");
    return NULL;
  }
  if ((double)w * h > j->max_pixels) {
    char m[160];
    snprintf(m, sizeof m, "%dx%d is %.0f pixels, over the limit of %.0f", w, h, (double)w * h, j->max_pixels);
    fail(j, E_TOO_LARGE, m);
    return NULL;
  }
  s->num = s->denom = 1;
  if (j->full) *c = colorspace == TJCS_GRAY ? 1 : 3;
  else {
    *c = j->channels;
    stored_window(j, w, h, win);
    int rw = swaps(j->orientation) ? j->out_h : j->out_w, rh = swaps(j->orientation) ? j->out_w : j->out_h;
    *s = pick_scale(j->flags, win[2], win[3], rw, rh);
  }
  const tjscalingfactor f = *s;
  *sw = TJSCALED(w, f);
  *sh = TJSCALED(h, f);
  unsigned char *buf = malloc((size_t)*sw * *sh * *c);
  if (!buf) {
    fail(j, E_NO_MEMORY, "out of memory for the decoded picture");
    return NULL;
  }
  int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
  if (j->flags & FLAG_FAST_UPSAMPLE) flags |= TJFLAG_FASTUPSAMPLE;
  if (j->flags & FLAG_FAST_DCT) flags |= TJFLAG_FASTDCT;
  int pf = *c == 1 ? TJPF_GRAY : TJPF_RGB;
  if (tjDecompress2(tj, j->jpeg, j->jpeg_size, buf, *sw, 0, *sh, pf, flags) != 0) {
    fail(j, E_CORRUPT, tjGetErrorStr2(tj));
    free(buf);
    return NULL;
  }
  return buf;
}

/** decodeJpegFull's result: the whole picture, upright. */
static void finish_full(Job *j, unsigned char *img, int sw, int sh, int c) {
  const int o = j->orientation;
  j->channels = c;
  j->width = swaps(o) ? sh : sw;
  j->height = swaps(o) ? sw : sh;
  if (o < 2 || o > 8) {
    j->out = img;
    return;
  }
  j->out = malloc((size_t)sw * sh * c);
  if (j->out) orient(img, sw, sh, c, o, j->out);
  else fail(j, E_NO_MEMORY, "out of memory for the upright picture");
  free(img);
}

static void execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  tjhandle tj = tjInitDecompress();
  if (!tj) {
    fail(j, E_NO_MEMORY, "tjInitDecompress failed");
    return;
  }
  int win[4] = {0, 0, 0, 0}, sw, sh, c;
  tjscalingfactor s;
  unsigned char *img = decompress(j, tj, win, &s, &sw, &sh, &c);
  tjDestroy(tj);
  if (!img) return;
  if (j->full) return finish_full(j, img, sw, sh, c);
  // Resampled in the stored orientation to the target's sides as stored, then turned upright.
  const int o = j->orientation;
  const double r = (double)s.num / s.denom;
  int rw = swaps(o) ? j->out_h : j->out_w, rh = swaps(o) ? j->out_w : j->out_h;
  size_t n = (size_t)rw * rh * c;
  unsigned char *small = malloc(n);
  j->out = (o >= 2 && o <= 8) ? malloc(n) : small;
  if (!small || !j->out ||
      !resample(img, sw, sh, c, win[0] * r, win[1] * r, win[2] * r, win[3] * r, rw, rh, small)) {
    fail(j, E_NO_MEMORY, "out of memory while resampling");
  } else if (j->out != small) {
    orient(small, rw, rh, c, o, j->out);
  }
  if (j->out != small) free(small);
  free(img);
  j->width = j->out_w;
  j->height = j->out_h;
}

static napi_value make_error(napi_env env, const Job *j) {
  napi_value msg, code, err;
  napi_create_string_utf8(env, j->message, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, CODES[j->status], NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &err);
  return err;
}

static napi_value make_result(napi_env env, Job *j) {
  size_t n = (size_t)j->width * j->height * j->channels;
  void *data;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, n, &data, &ab) != napi_ok) return NULL;
  memcpy(data, j->out, n);
  napi_create_typedarray(env, napi_uint8_array, n, ab, 0, &arr);
  if (!j->full) return arr;
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_int32(env, j->width, &v);
  napi_set_named_property(env, obj, "width", v);
  napi_create_int32(env, j->height, &v);
  napi_set_named_property(env, obj, "height", v);
  napi_create_int32(env, j->channels, &v);
  napi_set_named_property(env, obj, "channels", v);
  napi_set_named_property(env, obj, "data", arr);
  return obj;
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  napi_value result = NULL;
  if (status == napi_ok && j->status == OK) result = make_result(env, j);
  if (result) napi_resolve_deferred(env, j->deferred, result);
  else {
    if (j->status == OK) fail(j, E_NO_MEMORY, "could not hand the pixels to JavaScript");
    napi_reject_deferred(env, j->deferred, make_error(env, j));
  }
  napi_delete_reference(env, j->input_ref);
  napi_delete_async_work(env, j->work);
  free(j->out);
  free(j);
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static int get_int(napi_env env, napi_value v, int lo, int hi, int *out) {
  return napi_get_value_int32(env, v, out) == napi_ok && *out >= lo && *out <= hi;
}

/** Checks the bytes argument and queues the job; the rest of `j` is filled by the caller. */
static napi_value queue(napi_env env, napi_value bytes, Job *j) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value promise, name;
  bool is_typed = false;
  napi_is_typedarray(env, bytes, &is_typed);
  if (!is_typed || napi_get_typedarray_info(env, bytes, &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    free(j);
    return throw_type(env, "bytes must be a Uint8Array");
  }
  j->jpeg = data;
  j->jpeg_size = (unsigned long)length;
  // The bytes stay referenced (so alive) until the work completes; the caller must not change them.
  napi_create_reference(env, bytes, 1, &j->input_ref);
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "decodeJpeg", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static napi_value decode_jpeg(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) return throw_type(env, "decodeJpeg(bytes, outH, outW, channels, mode, orientation, maxPixels, flags)");
  Job *j = calloc(1, sizeof(Job));
  if (!j) return throw_type(env, "out of memory");
  char mode[16] = {0};
  size_t mode_len = 0;
  napi_get_value_string_utf8(env, argv[4], mode, sizeof mode, &mode_len);
  int ok = get_int(env, argv[1], 1, MAX_SIDE, &j->out_h) && get_int(env, argv[2], 1, MAX_SIDE, &j->out_w) &&
           get_int(env, argv[3], 1, 3, &j->channels) && j->channels != 2 &&
           get_int(env, argv[5], 0, 8, &j->orientation) && get_int(env, argv[7], 0, 7, &j->flags) &&
           napi_get_value_double(env, argv[6], &j->max_pixels) == napi_ok &&
           (strcmp(mode, "resize") == 0 || strcmp(mode, "center-crop") == 0);
  if (!ok) {
    free(j);
    return throw_type(env, "decodeJpeg: sides 1-65535, channels 1 or 3, mode resize or center-crop, "
                           "orientation 0-8, maxPixels a number, flags 0-7");
  }
  j->crop = strcmp(mode, "center-crop") == 0;
  return queue(env, argv[0], j);
}

static napi_value decode_jpeg_full(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Job *j = calloc(1, sizeof(Job));
  if (!j) return throw_type(env, "out of memory");
  j->full = 1;
  if (argc < 3 || !get_int(env, argv[1], 0, 8, &j->orientation) ||
      napi_get_value_double(env, argv[2], &j->max_pixels) != napi_ok) {
    free(j);
    return throw_type(env, "decodeJpegFull(bytes, orientation 0-8, maxPixels)");
  }
  return queue(env, argv[0], j);
}

NAPI_MODULE_INIT() {
  napi_value fn, version;
  napi_create_function(env, "decodeJpeg", NAPI_AUTO_LENGTH, decode_jpeg, NULL, &fn);
  napi_set_named_property(env, exports, "decodeJpeg", fn);
  napi_create_function(env, "decodeJpegFull", NAPI_AUTO_LENGTH, decode_jpeg_full, NULL, &fn);
  napi_set_named_property(env, exports, "decodeJpegFull", fn);
  napi_create_string_utf8(env, TURBO_VERSION, NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "libjpegTurboVersion", version);
  return exports;
}
