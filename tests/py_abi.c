/* py_abi.c — prints the sizes and field offsets of the public structs the
 * Python package (python/sten/_lib.py) mirrors with ctypes, as JSON, so its
 * test fails on a header change instead of reading the wrong bytes. */
#include "sten.h"

#include <stddef.h>
#include <stdio.h>

#define F(T, f) printf(", \"%s\": %zu", #f, offsetof(T, f))
#define S(T, body) do { printf("%s\"%s\": {\"sizeof\": %zu", first ? "" : ", ", #T, sizeof(T)); body; printf("}"); first = 0; } while (0)

int main(void)
{
    int first = 1;
    printf("{");
    S(sten_csr, F(sten_csr, nnz); F(sten_csr, row_ptr); F(sten_csr, val));
    S(sten_fingerprint, F(sten_fingerprint, hash));
    S(sten_dataset, F(sten_dataset, examples); F(sten_dataset, sparse); F(sten_dataset, index);
      F(sten_dataset, samples));
    S(sten_shared_desc, F(sten_shared_desc, transposed));
    S(sten_layer_desc, F(sten_layer_desc, kind); F(sten_layer_desc, N); F(sten_layer_desc, sparse);
      F(sten_layer_desc, dataset); F(sten_layer_desc, sources); F(sten_layer_desc, activation);
      F(sten_layer_desc, shared); F(sten_layer_desc, setting); F(sten_layer_desc, features));
    S(sten_train_desc, F(sten_train_desc, epochs); F(sten_train_desc, batch_size); F(sten_train_desc, seed);
      F(sten_train_desc, set));
    S(sten_net_desc, F(sten_net_desc, loss); F(sten_net_desc, decay); F(sten_net_desc, n_layers);
      F(sten_net_desc, layers); F(sten_net_desc, training); F(sten_net_desc, source));
    S(sten_epoch_stats, F(sten_epoch_stats, alpha); F(sten_epoch_stats, skipped));
    S(sten_train_opts, F(sten_train_opts, first_epoch); F(sten_train_opts, n_valid);
      F(sten_train_opts, progress); F(sten_train_opts, epoch_done); F(sten_train_opts, user));
    printf("}\n");
    return 0;
}
