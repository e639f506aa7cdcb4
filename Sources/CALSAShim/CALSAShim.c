#include "CALSAShim.h"
#include <alsa/asoundlib.h>
#include <stdarg.h>

static void dalaba_alsa_discard(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err; (void)fmt;
}

void dalaba_alsa_silence_errors(void) {
    snd_lib_error_set_handler(dalaba_alsa_discard);
}
