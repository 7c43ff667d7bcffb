/* io_int.h — index fingerprints as NetCDF attributes (src/io/fingerprint.c),
 * shared by the dataset and model readers and writers. */
#ifndef STEN_IO_INT_H
#define STEN_IO_INT_H

#include "core/core_int.h"

/* Writes fp as two global attributes of the open file nc: entries_att (a
 * uint) and hash_att (16 lowercase hex digits, text). Nothing when
 * fp.entries is 0. Errors name path and the attribute. */
sten_status sten__nc_put_fingerprint(sten_ctx *ctx, int nc, const char *path, const char *entries_att,
                                     const char *hash_att, sten_fingerprint fp);
/* Reads them back: both absent gives a zero fp (a file without one); one
 * without the other, a count that is not one number in [1, 2^32-1] or a
 * hash that is not 16 hex digits is STEN_E_FORMAT naming path and the
 * attribute. */
sten_status sten__nc_get_fingerprint(sten_ctx *ctx, int nc, const char *path, const char *entries_att,
                                     const char *hash_att, sten_fingerprint *fp);

#endif
