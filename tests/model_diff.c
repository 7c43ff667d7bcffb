/* model_diff.c — compares two NetCDF model (or data) files variable by
 * variable: every variable of one must be in the other with the same
 * length, numeric values within a tolerance (absolute, plus relative to the
 * larger magnitude), everything else equal. Prints the largest difference;
 * exit 0 when within, 1 when not, 2 on a bad file. For the MPI equivalence
 * tests (tests/test_mpi.sh): P ranks must give the one-process model up to
 * summation order. */
#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t var_len(int nc, int v)
{
    int nd, dims[NC_MAX_VAR_DIMS];
    size_t n = 1, len;
    nc_inq_varndims(nc, v, &nd);
    nc_inq_vardimid(nc, v, dims);
    for (int i = 0; i < nd; i++) {
        nc_inq_dimlen(nc, dims[i], &len);
        n *= len;
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: model_diff A.nc B.nc TOLERANCE\n");
        return 2;
    }
    const double tol = atof(argv[3]);
    int a, b, nv;
    if (nc_open(argv[1], NC_NOWRITE, &a) || nc_open(argv[2], NC_NOWRITE, &b)) {
        fprintf(stderr, "model_diff: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    nc_inq_nvars(a, &nv);
    int nvb;
    nc_inq_nvars(b, &nvb);
    double worst = 0.0;
    char worst_name[NC_MAX_NAME + 1] = "";
    int bad = nv != nvb;
    if (bad)
        fprintf(stderr, "model_diff: %d variables against %d\n", nv, nvb);
    for (int v = 0; v < nv && !bad; v++) {
        char name[NC_MAX_NAME + 1];
        nc_type t;
        int w;
        nc_inq_varname(a, v, name);
        nc_inq_vartype(a, v, &t);
        const size_t n = var_len(a, v);
        if (nc_inq_varid(b, name, &w) || var_len(b, w) != n) {
            fprintf(stderr, "model_diff: %s is missing or of another length in %s\n", name, argv[2]);
            bad = 1;
            break;
        }
        double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
        if (!x || !y || nc_get_var_double(a, v, x) || nc_get_var_double(b, w, y)) {
            free(x), free(y);
            continue; /* not numeric (text): not compared */
        }
        for (size_t i = 0; i < n; i++) {
            const double d = fabs(x[i] - y[i]), m = fmax(fabs(x[i]), fabs(y[i]));
            if (d == 0.0 || (isnan(x[i]) && isnan(y[i])))
                continue;
            const double excess = tol > 0.0 ? d / (tol + tol * m) : INFINITY; /* > 1: out of tolerance */
            if (!(excess <= worst)) {
                worst = excess;
                snprintf(worst_name, sizeof worst_name, "%s", name);
            }
        }
        (void)t;
        free(x), free(y);
    }
    nc_close(a);
    nc_close(b);
    if (bad)
        return 1;
    printf("model_diff: largest difference %.3g of the tolerance %g (%s)\n", worst, tol, worst_name);
    return worst <= 1.0 ? 0 : 1;
}
