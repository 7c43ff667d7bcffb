/* mpi.c — sten across processes: the sten_comm the trainer sums gradients
 * through, over MPI (docs/scale-out.md): collectives over all ranks, and
 * per machine a group with a shared-memory area (MPI_Win_allocate_shared)
 * and the group of the other machines' ranks of the same local index. Built with MPI when CMake found it
 * (-DSTEN_MPI=ON); without it, a process started by mpirun among others
 * refuses to run rather than train alone. MPI is started only when a
 * launcher started this process (its environment says so), so a plain
 * `sten ...` never touches it. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* The group size a launcher (Open MPI, MPICH/Hydra, Slurm's PMI) gave this
 * process, or 1. */
static int launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return 1;
}

#ifdef STEN_HAVE_MPI
#include <mpi.h>

static sten_comm comm, node, across;
/* each sten_comm's user: its communicator */
static MPI_Comm world_mc = MPI_COMM_WORLD, node_mc = MPI_COMM_NULL, across_mc = MPI_COMM_NULL;
static bool started;

static MPI_Comm of(void *user)
{
    return *(const MPI_Comm *)user;
}

/* Sums of a few values (decisions every rank must take alike) go through
 * rank 0 and back, so every rank gets the very same bits; large arrays
 * (gradients) take MPI_Allreduce's fastest algorithm. */
static sten_status mpi_allreduce(void *user, void *buf, size_t n, sten_comm_type type, sten_comm_op op)
{
    const MPI_Comm mc = of(user);
    int me = 0;
    MPI_Comm_rank(mc, &me);
    const MPI_Datatype t = type == STEN_COMM_F32 ? MPI_FLOAT : type == STEN_COMM_F64 ? MPI_DOUBLE
                                                                                    : MPI_UINT64_T;
    const MPI_Op o = op == STEN_COMM_SUM ? MPI_SUM : op == STEN_COMM_MAX ? MPI_MAX
                   : op == STEN_COMM_MIN ? MPI_MIN : MPI_BOR;
    const size_t size = type == STEN_COMM_F32 ? 4 : 8;
    int rc = MPI_SUCCESS;
    for (size_t off = 0; off < n && rc == MPI_SUCCESS;) { /* counts are ints */
        const int cnt = (int)(n - off < (1u << 30) ? n - off : (1u << 30));
        char *p = (char *)buf + off * size;
        if (n <= 16) {
            rc = MPI_Reduce(me ? p : MPI_IN_PLACE, p, cnt, t, o, 0, mc);
            if (rc == MPI_SUCCESS)
                rc = MPI_Bcast(p, cnt, t, 0, mc);
        } else {
            rc = MPI_Allreduce(MPI_IN_PLACE, p, cnt, t, o, mc);
        }
        off += (size_t)cnt;
    }
    return rc == MPI_SUCCESS ? STEN_OK : STEN_E_IO;
}

static sten_status mpi_bcast(void *user, void *buf, size_t bytes, int root)
{
    int rc = MPI_SUCCESS;
    for (size_t off = 0; off < bytes && rc == MPI_SUCCESS; off += 1u << 30)
        rc = MPI_Bcast((char *)buf + off, (int)(bytes - off < (1u << 30) ? bytes - off : (1u << 30)), MPI_BYTE,
                       root, of(user));
    return rc == MPI_SUCCESS ? STEN_OK : STEN_E_IO;
}

static sten_status mpi_gather(void *user, const void *send, void *recv, const size_t *bytes, int root)
{
    const MPI_Comm mc = of(user);
    int size = 0, me = 0;
    MPI_Comm_size(mc, &size);
    MPI_Comm_rank(mc, &me);
    int *cnt = malloc((size_t)size * 2 * sizeof *cnt);
    if (!cnt)
        return STEN_E_NOMEM;
    int *disp = cnt + size;
    size_t at = 0;
    for (int m = 0; m < size; m++) {
        if (bytes[m] > (size_t)INT32_MAX || at > (size_t)INT32_MAX) {
            free(cnt);
            return STEN_E_RANGE; /* MPI counts are ints */
        }
        cnt[m] = (int)bytes[m];
        disp[m] = (int)at;
        at += bytes[m];
    }
    const int rc = MPI_Gatherv(send, cnt[me], MPI_BYTE, recv, cnt, disp, MPI_BYTE, root, mc);
    free(cnt);
    return rc == MPI_SUCCESS ? STEN_OK : STEN_E_IO;
}

/* The shared area (MPI-3's shared-memory window over every rank), offered
 * when every rank runs on this machine. */
static MPI_Win win = MPI_WIN_NULL;

static void shared_release(void)
{
    if (win == MPI_WIN_NULL)
        return;
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
}

/* Whether this machine has room for a shared area of `total` bytes: Open
 * MPI backs it with a file in /dev/shm (or osc_sm_backing_directory), and
 * a file larger than that file system's free space maps but dies of SIGBUS
 * when touched (Docker's default /dev/shm is 64 MB). STEN_MPI_SHM_MAX=MB
 * caps what sten asks for. Says why not on stderr. */
static bool shared_room(unsigned long long total, int me)
{
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    dir = dir && *dir ? dir : "/dev/shm";
    unsigned long long room = ~0ull;
    struct statvfs sv;
    if (statvfs(dir, &sv) == 0)
        room = (unsigned long long)sv.f_bavail * sv.f_frsize;
    const char *cap = getenv("STEN_MPI_SHM_MAX");
    const bool capped = cap && *cap && strtoull(cap, NULL, 10) << 20 < room;
    if (capped)
        room = strtoull(cap, NULL, 10) << 20;
    if (total + (total >> 4) <= room)
        return true;
    if (me == 0)
        fprintf(stderr, "sten: warning: the shared weights need %llu MB of shared memory and %s allows %llu MB; "
                        "summing through MPI_Allreduce instead (more room: docker run --shm-size, or "
                        "--mca osc_sm_backing_directory DIR)\n", total >> 20,
                capped ? "STEN_MPI_SHM_MAX" : dir, room >> 20);
    return false;
}

static sten_status mpi_shared(void *user, size_t bytes, void **seg)
{
    shared_release();
    if (!seg)
        return STEN_OK;
    const MPI_Comm mc = of(user);
    int n = 0, me = 0;
    MPI_Comm_size(mc, &n);
    MPI_Comm_rank(mc, &me);
    unsigned long long total = bytes;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, mc);
    int ok = shared_room(total, me); /* the machine's ranks decide alike */
    MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, mc);
    if (!ok)
        return STEN_E_NOMEM;
    void *base = NULL;
    if (MPI_Win_allocate_shared((MPI_Aint)bytes, 1, MPI_INFO_NULL, mc, &base, &win) != MPI_SUCCESS) {
        win = MPI_WIN_NULL;
        return STEN_E_NOMEM;
    }
    for (int m = 0; m < n; m++) {
        MPI_Aint size = 0;
        int unit = 0;
        if (MPI_Win_shared_query(win, m, &size, &unit, &seg[m]) != MPI_SUCCESS) {
            MPI_Win_free(&win);
            return STEN_E_IO;
        }
    }
    /* passive target for the whole life of the area: MPI_Win_sync orders
     * the loads and stores around each barrier */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    return STEN_OK;
}

static sten_status mpi_barrier(void *user)
{
    if (win != MPI_WIN_NULL)
        MPI_Win_sync(win);
    const int rc = MPI_Barrier(of(user));
    if (win != MPI_WIN_NULL)
        MPI_Win_sync(win);
    return rc == MPI_SUCCESS ? STEN_OK : STEN_E_IO;
}

static void comm_on(sten_comm *c, MPI_Comm *mc)
{
    MPI_Comm_rank(*mc, &c->rank);
    MPI_Comm_size(*mc, &c->size);
    c->user = mc;
    c->allreduce = mpi_allreduce;
    c->bcast = mpi_bcast;
    c->gather = mpi_gather;
    c->barrier = mpi_barrier;
}

/* The machines: the ranks that share memory (MPI_COMM_TYPE_SHARED), or,
 * with STEN_MPI_NODE_RANKS=k, blocks of k consecutive ranks taken for
 * machines (to try the several-machine path on one). Offered to the
 * trainer when every machine holds as many ranks and that is more than one;
 * STEN_MPI_SHARED=0 offers nothing (every sum through MPI_Allreduce over
 * all ranks). Collective. */
static void find_machines(void)
{
    const char *per = getenv("STEN_MPI_NODE_RANKS"), *off = getenv("STEN_MPI_SHARED");
    const int k = per ? atoi(per) : 0;
    const int rc = k > 0 ? MPI_Comm_split(MPI_COMM_WORLD, comm.rank / k, comm.rank, &node_mc)
                         : MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node_mc);
    if (rc != MPI_SUCCESS) {
        node_mc = MPI_COMM_NULL;
        return;
    }
    comm_on(&node, &node_mc);
    int lo = node.size, hi = node.size; /* every rank decides alike */
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (MPI_Comm_split(MPI_COMM_WORLD, node.rank, comm.rank, &across_mc) != MPI_SUCCESS)
        return;
    comm_on(&across, &across_mc);
    if ((off && strcmp(off, "0") == 0) || lo != hi || lo < 2)
        return;
    node.shared = mpi_shared;
    comm.node = &node;
    comm.across = across.size > 1 ? &across : NULL;
}

int cli_mpi_start(int *argc, char ***argv, const char *sub)
{
    if (launched_size() <= 1 && !getenv("OMPI_COMM_WORLD_RANK"))
        return CLI_EX_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "sten: MPI_Init failed\n");
        return CLI_EX_UNAVAILABLE;
    }
    started = true;
    comm_on(&comm, &world_mc);
    if (comm.size > 1)
        find_machines();
    if (comm.size > 1 && strcmp(sub, "train") != 0 && strcmp(sub, "predict") != 0) {
        if (comm.rank == 0)
            fprintf(stderr, "sten %s: runs in one process; of the subcommands only train and predict run "
                            "across MPI ranks (started here on %d)\n", sub, comm.size);
        MPI_Finalize();
        started = false;
        return CLI_EX_USAGE;
    }
    return CLI_EX_OK;
}

void cli_mpi_describe(char *out, size_t cap)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." -> its name and version */
    snprintf(out, cap, "%s (mpirun -np P sten train/predict; %s)", lib,
             started ? "this process is one of its ranks" : "this process runs alone");
}

int cli_mpi_finish(int rc)
{
    if (!started)
        return rc;
    if (rc != CLI_EX_OK && comm.size > 1) {
        /* this rank failed, and the others may be waiting for it in a
         * collective: end the whole job now rather than hang (the failure
         * was said on stderr first) */
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    shared_release();
    MPI_Finalize();
    return rc;
}

const sten_comm *cli_mpi_comm(void)
{
    return started && comm.size > 1 ? &comm : NULL;
}

int cli_mpi_rank(void)
{
    return started ? comm.rank : 0;
}

int cli_mpi_size(void)
{
    return started ? comm.size : 1;
}

void cli_mpi_barrier(void)
{
    if (started)
        MPI_Barrier(MPI_COMM_WORLD);
}

sten_status cli_mpi_gather_to(sten_ctx *ctx, FILE *f, const char *buf, size_t len)
{
    if (!started || comm.size == 1)
        return fwrite(buf, 1, len, f) == len ? STEN_OK : sten_fail(ctx, STEN_E_IO, "cannot write the output");
    /* rank 0 writes its own part, then every other rank's in rank order,
     * received in pieces of at most 64 MiB */
    enum { PIECE = 64 << 20 };
    if (comm.rank != 0) {
        unsigned long long n = len;
        int rc = MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, 1, MPI_COMM_WORLD);
        for (size_t off = 0; rc == MPI_SUCCESS && off < len; off += PIECE)
            rc = MPI_Send(buf + off, (int)(len - off < PIECE ? len - off : PIECE), MPI_BYTE, 0, 2, MPI_COMM_WORLD);
        return rc == MPI_SUCCESS ? STEN_OK : sten_fail(ctx, STEN_E_IO, "sending the results to rank 0 failed");
    }
    bool ok = fwrite(buf, 1, len, f) == len;
    char *piece = malloc(PIECE);
    if (!piece)
        return sten_fail(ctx, STEN_E_NOMEM, "out of memory");
    for (int r = 1; r < comm.size; r++) {
        unsigned long long n = 0;
        if (MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, r, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            free(piece);
            return sten_fail(ctx, STEN_E_IO, "receiving rank %d's results failed", r);
        }
        for (unsigned long long off = 0; off < n; off += PIECE) {
            const int cnt = (int)(n - off < PIECE ? n - off : PIECE);
            if (MPI_Recv(piece, cnt, MPI_BYTE, r, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                free(piece);
                return sten_fail(ctx, STEN_E_IO, "receiving rank %d's results failed", r);
            }
            ok = ok && fwrite(piece, 1, (size_t)cnt, f) == (size_t)cnt;
        }
    }
    free(piece);
    return ok ? STEN_OK : sten_fail(ctx, STEN_E_IO, "cannot write the output");
}

#else /* built without MPI */

void cli_mpi_describe(char *out, size_t cap)
{
    snprintf(out, cap, "not built in (cmake -DSTEN_MPI=ON; docs/scale-out.md)");
}

int cli_mpi_start(int *argc, char ***argv, const char *sub)
{
    (void)argc, (void)argv;
    const int n = launched_size();
    if (n > 1) {
        fprintf(stderr, "sten %s: started as one of %d MPI processes, but this sten was built without MPI, so "
                        "each would run alone; rebuild with -DSTEN_MPI=ON (scripts/deps.sh installs "
                        "Open MPI; docs/scale-out.md)\n", sub, n);
        return CLI_EX_UNAVAILABLE;
    }
    return CLI_EX_OK;
}

int cli_mpi_finish(int rc)
{
    return rc;
}

const sten_comm *cli_mpi_comm(void)
{
    return NULL;
}

int cli_mpi_rank(void)
{
    return 0;
}

int cli_mpi_size(void)
{
    return 1;
}

void cli_mpi_barrier(void)
{
}

sten_status cli_mpi_gather_to(sten_ctx *ctx, FILE *f, const char *buf, size_t len)
{
    return fwrite(buf, 1, len, f) == len ? STEN_OK : sten_fail(ctx, STEN_E_IO, "cannot write the output");
}
#endif
