/* lib/far.sh as a C string: the far side an ssh target runs on its host
 * (lib/ssh.c), and the local transport runs for a hook or the
 * hooks-pending mark (lib/local.c), as sh -c rep_far_script rep-push OP
 * DIR ARGS... The Makefile turns the shell file into gen/far.h. */
#include "transport.h"

const char rep_far_script[] =
#include "far.h"
;
