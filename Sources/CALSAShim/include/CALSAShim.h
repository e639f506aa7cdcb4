#ifndef DALABA_CALSASHIM_H
#define DALABA_CALSASHIM_H

/// alsa-lib prints its own errors to stderr through a variadic handler that Swift cannot
/// implement; this routes them nowhere, since every error is already returned to Swift
/// with snd_strerror and reported there with the device name.
void dalaba_alsa_silence_errors(void);

#endif
