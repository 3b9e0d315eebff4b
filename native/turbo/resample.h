// Geometry and resampling for turbo.c (resample.c): no Node, no libjpeg.
#ifndef TURBO_RESAMPLE_H
#define TURBO_RESAMPLE_H

/** True for orientations 5-8, which swap width and height. */
int swaps(int orientation);

/** The stored pixel (*sx, *sy) shown at (x, y) of the upright picture; w, h are the stored sides. */
void stored_pixel(int orientation, int x, int y, int w, int h, int *sx, int *sy);

/** preprocess.ts's window of an upright w x h picture for an out_w x out_h target: the largest
 * centred one of the target's aspect when `crop`, else the whole picture. */
void crop_window(int crop, int w, int h, int out_w, int out_h, int *x0, int *y0, int *cw, int *ch);

/** Resamples the window [wx, wx + ww) x [wy, wy + wh) of src (sw x sh, c = 1 or 3 channels) to
 * out_w x out_h into dst. Returns 0 when out of memory. */
int resample(const unsigned char *src, int sw, int sh, int c, double wx, double wy, double ww, double wh,
             int out_w, int out_h, unsigned char *dst);

/** dst: src (stored w x h, c channels) turned upright by EXIF `orientation` (sides swapped for 5-8). */
void orient(const unsigned char *src, int w, int h, int c, int orientation, unsigned char *dst);

#endif
