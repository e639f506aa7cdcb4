// libvorbisfile's header defines five static ov_callbacks for stdio files; the relay brings its own (a pipe, no seek),
// so they are left out rather than copied into every unit that includes this.
#define OV_EXCLUDE_STATIC_CALLBACKS
#include <vorbis/vorbisfile.h>
