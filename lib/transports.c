/* The kinds of target the installed rep-push knows, in the order they
 * are asked to claim an operand: host:DIR before a local directory. The
 * tests' build of rep-push links its own table instead (tests/fault.c). */
#include "transport.h"

const struct rep_transport *const rep_transports[] = {
	&rep_ssh_transport,
	&rep_local_transport,
	NULL,
};
