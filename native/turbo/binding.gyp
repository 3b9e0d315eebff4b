# The optional JPEG accelerator (turbo.c): a plain C N-API addon over the system libturbojpeg
# (Debian: libturbojpeg0-dev). Built by `npm run build:native` into native/turbo/build/, which git
# ignores; src/data/decode-turbo.ts loads it when present and falls back to sharp when not.
{
  "targets": [
    {
      "target_name": "turbo",
      "sources": ["turbo.c", "resample.c"],
      "libraries": ["-lturbojpeg"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
