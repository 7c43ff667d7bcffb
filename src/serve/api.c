/* api.c — the endpoints: Personalize-shaped recommendations, ranking and
 * events, SageMaker-shaped invocations. Requests are parsed strictly
 * (jansson; unknown keys refused, limits named) and every failure is a 4xx
 * or 503 with a message, never a crash. Recommenders: the model (through
 * the batcher), precomputed lists and item neighbours (the store),
 * popularity (the fallback, which the answer names). */
#include "serve/http_int.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_EXCLUDE = 10000, MAX_EVENTS = 1000, MAX_INSTANCES = 1000, MAX_LABEL = 511 };

void api_error(req *q, int status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    q->status = status;
    q->retry_after = status == 503;
    q->out.n = 0;
    sb_str(&q->out, "{\"message\":");
    sb_json(&q->out, msg, strlen(msg));
    sb_str(&q->out, "}");
}

void api_rid(server *s, char *buf, size_t n)
{
    const uint64_t k = atomic_fetch_add(&s->rid, 1);
    uint64_t x = (k + 1) * 0x9E3779B97F4A7C15ull ^ s->rid_salt;
    x ^= x >> 31;
    snprintf(buf, n, "RID-%016llx", (unsigned long long)x);
}

/* ------------------------------------------------------------ parsing */

static json_t *parse_body(req *q)
{
    json_error_t e;
    json_t *j = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        api_error(q, 400, "body:%d:%d: %s", e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        api_error(q, 400, "body: expected a JSON object");
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Refuses keys outside `allowed` (NULL-terminated), naming the first. */
static bool keys_ok(req *q, json_t *o, const char *where, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, k))
            a++;
        if (!*a) {
            char list[200] = "";
            for (a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            api_error(q, 400, "%s: unknown key \"%s\" (expected %s)", where, k, list);
            return false;
        }
    }
    return true;
}

/* A string member (NULL when absent and optional). */
static bool get_str(req *q, json_t *o, const char *where, const char *key, bool required, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) {
        if (required)
            api_error(q, 400, "%s: \"%s\" is required", where, key);
        return !required;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > MAX_LABEL ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        api_error(q, 400, "%s: \"%s\" must be a non-empty string of at most %d bytes", where, key, MAX_LABEL);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool get_count(req *q, json_t *o, const char *where, const char *key, uint32_t lo, uint32_t hi,
                      uint32_t def, uint32_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = def;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        api_error(q, 400, "%s: \"%s\" must be an integer from %u to %u", where, key, lo, hi);
        return false;
    }
    *out = (uint32_t)json_integer_value(v);
    return true;
}

/* An array of item labels as catalogue ids (labels the server does not
 * know get UINT32_MAX); read lock held. */
static bool get_items(req *q, json_t *o, const char *where, const char *key, uint32_t max, uint32_t **ids,
                      uint32_t *n)
{
    json_t *a = json_object_get(o, key);
    *ids = NULL;
    *n = 0;
    if (!a)
        return true;
    if (!json_is_array(a) || json_array_size(a) > max) {
        api_error(q, 400, "%s: \"%s\" must be an array of at most %u item ids", where, key, max);
        return false;
    }
    const size_t len = json_array_size(a);
    *ids = malloc((len ? len : 1) * sizeof **ids);
    if (!*ids) {
        api_error(q, 503, "out of memory");
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v) || json_string_length(v) == 0) {
            api_error(q, 400, "%s: \"%s\"[%zu] must be a non-empty string", where, key, i);
            free(*ids);
            *ids = NULL;
            return false;
        }
        if (!sten_index_find(q->s->S.items, json_string_value(v), json_string_length(v), &(*ids)[i]))
            (*ids)[i] = UINT32_MAX;
    }
    *n = (uint32_t)len;
    return true;
}

/* ------------------------------------------------------------ id sets */

/* Each request thread's scratch over catalogue ids. Generation stamps mark
 * a request's excluded items and the items its item-to-item sums touched,
 * so nothing is sorted or cleared per request: a check is one load. Grown
 * with the catalogue; freed when the thread ends. */
typedef struct {
    uint32_t cap;              /* ids below cap */
    uint32_t ex_gen, acc_gen;  /* the current request's stamps */
    uint32_t *ex_mark;         /* == ex_gen: excluded */
    uint32_t *acc_mark;        /* == acc_gen: acc[id] holds a sum */
    uint32_t *touched;         /* the ids with sums, in first-touch order */
    float *acc;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_free(void *p)
{
    scratch *t = p;
    if (t)
        free(t->ex_mark), free(t->acc_mark), free(t->touched), free(t->acc);
    free(t);
}

static void scratch_key_make(void)
{
    scratch_key_ok = !pthread_key_create(&scratch_key, scratch_free);
}

/* Grows *p (elements of size) from old to cap, the new part zeroed. */
static bool grow(void *p, size_t size, uint32_t old, uint32_t cap)
{
    void *n = realloc(*(void **)p, (size_t)cap * size);
    if (!n)
        return false;
    memset((char *)n + (size_t)old * size, 0, (size_t)(cap - old) * size);
    *(void **)p = n;
    return true;
}

/* The calling thread's scratch for ids below n (NULL: out of memory). */
static scratch *scratch_get(uint32_t n)
{
    pthread_once(&scratch_once, scratch_key_make);
    if (!scratch_key_ok)
        return NULL;
    scratch *t = pthread_getspecific(scratch_key);
    if (!t) {
        if (!(t = calloc(1, sizeof *t)))
            return NULL;
        if (pthread_setspecific(scratch_key, t)) {
            free(t);
            return NULL;
        }
    }
    if (n > t->cap) {
        const uint32_t cap = n > UINT32_MAX - n / 4 - 64 ? UINT32_MAX : n + n / 4 + 64;
        if (!grow(&t->ex_mark, sizeof *t->ex_mark, t->cap, cap) ||
            !grow(&t->acc_mark, sizeof *t->acc_mark, t->cap, cap) ||
            !grow(&t->touched, sizeof *t->touched, t->cap, cap) || !grow(&t->acc, sizeof *t->acc, t->cap, cap))
            return NULL; /* the arrays that grew are still valid for the old cap */
        t->cap = cap;
    }
    return t;
}

/* The items a request leaves out (valid until the thread's next exset_make). */
typedef struct {
    const scratch *t;
    uint32_t gen;
    const fbound *flt; /* the request's filter, or NULL */
} exset;

static bool excluded(const exset *e, uint32_t id)
{
    return (id < e->t->cap && e->t->ex_mark[id] == e->gen) || (e->flt && !filter_pass(e->flt, id));
}

/* a and b (catalogue ids; UINT32_MAX, an unknown item, is skipped) as the
 * excluded set; false when out of memory. n_cat: the catalogue's size. */
static bool exset_make(exset *e, uint32_t n_cat, const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb,
                       const fbound *flt)
{
    scratch *t = scratch_get(n_cat);
    if (!t)
        return false;
    if (++t->ex_gen == 0) { /* the stamps wrapped: start clean */
        memset(t->ex_mark, 0, (size_t)t->cap * sizeof *t->ex_mark);
        t->ex_gen = 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        const uint32_t *s = pass ? b : a, n = pass ? nb : na;
        for (uint32_t i = 0; i < n; i++)
            if (s[i] < t->cap)
                t->ex_mark[s[i]] = t->ex_gen;
    }
    *e = (exset){t, t->ex_gen, flt};
    return true;
}

/* ------------------------------------------------------------ top-K */

typedef struct {
    uint32_t id;
    float score;
} scored;

/* a ranks before b: higher score, then smaller id */
static bool before(scored a, scored b)
{
    return a.score > b.score || (a.score == b.score && a.id < b.id);
}

/* Keeps the K best of a stream in a heap whose root is the worst kept. */
typedef struct {
    scored *h;
    uint32_t n, K;
} topk;

static void topk_push(topk *t, scored x)
{
    if (t->n < t->K) {
        uint32_t i = t->n++;
        while (i && before(t->h[(i - 1) / 2], x)) {
            t->h[i] = t->h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        t->h[i] = x;
        return;
    }
    if (!t->K || !before(x, t->h[0]))
        return;
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && before(t->h[c], t->h[c + 1]))
            c++;
        if (!before(x, t->h[c]))
            break;
        t->h[i] = t->h[c];
        i = c;
    }
    t->h[i] = x;
}

/* Sorts the kept entries best first (in place). */
static void topk_sort(topk *t)
{
    for (uint32_t i = 1; i < t->n; i++) { /* K is small: insertion sort */
        scored x = t->h[i];
        uint32_t j = i;
        while (j && before(x, t->h[j - 1])) {
            t->h[j] = t->h[j - 1];
            j--;
        }
        t->h[j] = x;
    }
}

/* ------------------------------------------------------------ answers */

/* {"itemList":[...], "recommendationId", "recommender", ["fallback","reason"], ["modelVersion"]};
 * labels read under the state's read lock (held by the caller). */
static void write_list(req *q, const char *recommender, const char *reason, const scored *it, uint32_t n,
                       const char *version)
{
    char rid[40];
    api_rid(q->s, rid, sizeof rid);
    sbuf *b = &q->out;
    b->n = 0;
    sb_str(b, "{\"itemList\":[");
    for (uint32_t i = 0, w = 0; i < n; i++) {
        const char *l = sten_index_label(q->s->S.items, it[i].id);
        if (!l)
            continue;
        sb_str(b, w++ ? ",{\"itemId\":" : "{\"itemId\":");
        sb_json(b, l, strlen(l));
        sb_str(b, ",\"score\":");
        sb_num(b, it[i].score);
        sb_str(b, "}");
    }
    sb_printf(b, "],\"recommendationId\":\"%s\",\"recommender\":\"%s\"", rid, recommender);
    if (reason) {
        sb_str(b, ",\"fallback\":\"popularity\",\"reason\":");
        sb_json(b, reason, strlen(reason));
    }
    if (version && *version) {
        sb_str(b, ",\"modelVersion\":");
        sb_json(b, version, strlen(version));
    }
    sb_str(b, "}");
    q->status = 200;
}

/* Popularity, without the excluded items (read lock held). */
static void answer_popular(req *q, const exset *ex, uint32_t K, const char *reason)
{
    const state *S = &q->s->S;
    scored *it = malloc((size_t)K * sizeof *it);
    uint32_t n = 0;
    for (uint32_t i = 0; it && i < S->n_popular && n < K; i++)
        if (!excluded(ex, S->popular[i]))
            it[n++] = (scored){S->popular[i], (float)S->count[S->popular[i]]};
    if (!it)
        api_error(q, 503, "out of memory");
    else
        write_list(q, "popularity", reason, it, n, NULL);
    free(it);
}

/* A store list, without the excluded items (read lock held). False when
 * the key has no list. */
static bool answer_stored(req *q, store_table t, const char *key, const exset *ex, uint32_t K,
                          const char *recommender)
{
    const state *S = &q->s->S;
    store_read *r = q->s->st ? store_read_begin(q->s->st) : NULL;
    const void *data;
    uint32_t cnt;
    if (!r || !store_get_list(r, t, key, strlen(key), &data, &cnt)) {
        store_read_end(r);
        return false;
    }
    scored *it = malloc((size_t)K * sizeof *it);
    uint32_t n = 0;
    for (uint32_t i = 0; it && i < cnt && n < K; i++) {
        const store_entry e = store_entry_at(data, i);
        if (e.item >= S->n_sid)
            continue; /* an item added to the store after the server mapped it */
        const uint32_t c = S->sid2cat[e.item];
        if (!excluded(ex, c))
            it[n++] = (scored){c, e.score};
    }
    store_read_end(r);
    if (!it)
        api_error(q, 503, "out of memory");
    else
        write_list(q, recommender, NULL, it, n, NULL);
    free(it);
    return true;
}

/* Item-to-item: the neighbours of the latest `recent` history items,
 * scores summed (in the thread's dense accumulator: no table to clear),
 * excluded items left out (read lock held). False when none of them has
 * neighbours. */
static bool answer_i2i(req *q, const uint32_t *hist, uint32_t nh, const exset *ex, uint32_t K)
{
    const state *S = &q->s->S;
    store_read *r = q->s->st ? store_read_begin(q->s->st) : NULL;
    if (!r)
        return false;
    const uint32_t from = nh > q->s->o.recent ? nh - q->s->o.recent : 0;
    const void *lists[1024];
    uint32_t counts[1024], nl = 0;
    size_t total = 0;
    for (uint32_t i = from; i < nh && nl < 1024; i++) {
        const char *l = sten_index_label(S->items, hist[i]);
        if (l && store_get_list(r, STORE_SIMILAR, l, strlen(l), &lists[nl], &counts[nl]))
            total += counts[nl++];
    }
    if (!total) {
        store_read_end(r);
        return false;
    }
    scratch *t = scratch_get(sten_index_size(S->items));
    scored *heap = malloc((size_t)K * sizeof *heap);
    if (!t || !heap) {
        store_read_end(r);
        free(heap);
        api_error(q, 503, "out of memory");
        return true;
    }
    if (++t->acc_gen == 0) {
        memset(t->acc_mark, 0, (size_t)t->cap * sizeof *t->acc_mark);
        t->acc_gen = 1;
    }
    uint32_t nt = 0;
    for (uint32_t l = 0; l < nl; l++)
        for (uint32_t i = 0; i < counts[l]; i++) {
            const store_entry e = store_entry_at(lists[l], i);
            if (e.item >= S->n_sid)
                continue;
            const uint32_t c = S->sid2cat[e.item];
            if (c >= t->cap)
                continue;
            if (t->acc_mark[c] != t->acc_gen) {
                t->acc_mark[c] = t->acc_gen;
                t->acc[c] = 0.0f;
                t->touched[nt++] = c;
            }
            t->acc[c] += e.score;
        }
    store_read_end(r);
    topk k = {heap, 0, K};
    for (uint32_t i = 0; i < nt; i++)
        if (!excluded(ex, t->touched[i]))
            topk_push(&k, (scored){t->touched[i], t->acc[t->touched[i]]});
    topk_sort(&k);
    write_list(q, "item-to-item", NULL, k.h, k.n, NULL);
    free(heap);
    return true;
}

/* ------------------------------------------------------------ model jobs */

static bool model_lists(server *s)
{
    bool binary;
    return s->bat && !batcher_scorer(s->bat, &binary);
}

/* One RECOMMEND job for q (copies in and ex). The batcher leaves the
 * input's items out itself; ex is what else to leave out. */
static bool queue_recommend(req *q, const uint32_t *in, uint32_t n_in, const uint32_t *ex, uint32_t n_ex,
                            uint32_t K)
{
    job *j = calloc(1, sizeof *j);
    q->jobs = j;
    if (!j) {
        api_error(q, 503, "out of memory");
        return false;
    }
    q->n_jobs = 1;
    j->kind = JOB_RECOMMEND;
    j->K = K;
    j->in = malloc(((size_t)n_in + 1) * sizeof *j->in);
    j->ex = malloc(((size_t)n_ex + 1) * sizeof *j->ex);
    j->idx = malloc((size_t)K * sizeof *j->idx);
    j->val = malloc((size_t)K * sizeof *j->val);
    if (!j->in || !j->ex || !j->idx || !j->val) {
        api_error(q, 503, "out of memory");
        return false;
    }
    if (n_in)
        memcpy(j->in, in, (size_t)n_in * sizeof *in);
    if (n_ex)
        memcpy(j->ex, ex, (size_t)n_ex * sizeof *ex);
    j->n_in = n_in, j->n_ex = n_ex;
    return true;
}

static void finish_recommend(req *q, sbuf *out, int *status)
{
    (void)out, (void)status;
    job *j = &q->jobs[0];
    if (j->http == 503 && !strcmp(j->err, "the model's queue is full")) {
        api_error(q, 503, "the model's queue is full: retry shortly");
        return;
    }
    pthread_rwlock_rdlock(&q->s->S.lock);
    if (j->http) { /* a model that cannot answer: popularity, and why */
        exset ex;
        if (exset_make(&ex, sten_index_size(q->s->S.items), j->ex, j->n_ex, j->in, j->n_in, NULL))
            answer_popular(q, &ex, j->K, j->err);
        else
            api_error(q, 503, "out of memory");
    } else {
        scored *it = malloc(((size_t)j->count + 1) * sizeof *it);
        for (uint32_t i = 0; it && i < j->count; i++)
            it[i] = (scored){j->idx[i], j->val[i]};
        if (it)
            write_list(q, "model", NULL, it, j->count, j->version);
        else
            api_error(q, 503, "out of memory");
        free(it);
    }
    pthread_rwlock_unlock(&q->s->S.lock);
}

/* ------------------------------------------------------------ endpoints */

/* The request's filter ("filterArn": a filter's name, or an ARN ending in
 * /NAME) bound to its "filterValues"; *out NULL without one. */
static bool get_filter(req *q, json_t *b, const char *where, const char *arn, fbound **out)
{
    *out = NULL;
    json_t *values = json_object_get(b, "filterValues");
    if (!arn) {
        if (values)
            api_error(q, 400, "%s: \"filterValues\" without \"filterArn\"", where);
        return !values;
    }
    const char *name = strrchr(arn, '/') ? strrchr(arn, '/') + 1 : arn;
    const server *s = q->s;
    for (uint32_t i = 0; i < s->n_filters; i++)
        if (!strcmp(filter_name(s->filters[i]), name)) {
            char err[512];
            if (filter_bind(s->filters[i], values, out, err, sizeof err)) {
                api_error(q, 400, "%s: %s", where, err);
                return false;
            }
            return true;
        }
    if (!s->n_filters) {
        api_error(q, 400, "%s: \"filterArn\": no filters are defined (sten serve --items F --filter NAME=EXPR)",
                  where);
    } else {
        char known[512] = "";
        for (uint32_t i = 0; i < s->n_filters; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     filter_name(s->filters[i]));
        api_error(q, 400, "%s: \"filterArn\": no filter named \"%s\" (defined: %s)", where, name, known);
    }
    return false;
}

/* Appends the catalogue's items that flt rejects to *ex (for the model,
 * which takes exclusions, not predicates); read lock held. */
static bool filtered_out(req *q, const fbound *flt, uint32_t **ex, uint32_t *n_ex)
{
    const uint32_t n_cat = sten_index_size(q->s->S.items);
    uint32_t *p = realloc(*ex, ((size_t)*n_ex + n_cat + 1) * sizeof *p);
    if (!p) {
        api_error(q, 503, "out of memory");
        return false;
    }
    *ex = p;
    for (uint32_t i = 0; i < n_cat; i++)
        if (!filter_pass(flt, i))
            p[(*n_ex)++] = i;
    return true;
}

static const char *const rec_keys[] = {"userId", "itemId", "numResults", "exclude", "recommender",
                                       "campaignArn", "recommenderArn", "filterArn", "filterValues",
                                       "context", NULL};

void api_recommendations(req *q)
{
    server *s = q->s;
    json_t *b = parse_body(q);
    if (!b)
        return;
    const char *user, *item, *which;
    uint32_t K, *excl = NULL, n_excl = 0, *hist = NULL, nh = 0;
    const char *flt_arn = NULL;
    fbound *flt = NULL;
    const char *W = "GetRecommendations";
    pthread_rwlock_rdlock(&s->S.lock);
    bool ok = keys_ok(q, b, W, rec_keys) && get_str(q, b, W, "userId", false, &user) &&
              get_str(q, b, W, "itemId", false, &item) && get_str(q, b, W, "recommender", false, &which) &&
              get_count(q, b, W, "numResults", 1, s->o.max_results, 25, &K) &&
              get_items(q, b, W, "exclude", MAX_EXCLUDE, &excl, &n_excl) &&
              get_str(q, b, W, "filterArn", false, &flt_arn) && get_filter(q, b, W, flt_arn, &flt);
    if (ok && !user && !item) {
        api_error(q, 400, "%s: \"userId\" or \"itemId\" is required", W);
        ok = false;
    }
    if (ok && which && strcmp(which, "model") && strcmp(which, "precomputed") && strcmp(which, "item-to-item") &&
        strcmp(which, "popularity")) {
        api_error(q, 400, "%s: \"recommender\" must be model, precomputed, item-to-item or popularity, not \"%s\"",
                  W, which);
        ok = false;
    }
    if (!ok)
        goto done;
    const bool known = user && state_history(&s->S, user, strlen(user), &hist, &nh);
    uint32_t item_id = UINT32_MAX;
    if (item && !user)
        sten_index_find(s->S.items, item, strlen(item), &item_id);
    exset ex; /* the request's exclusions and the user's history (or the item asked about) */
    if (!exset_make(&ex, sten_index_size(s->S.items), excl, n_excl, user ? hist : &item_id, user ? nh : 1, flt)) {
        api_error(q, 503, "out of memory");
        goto done;
    }
    const char *why = NULL; /* popularity, but nobody asked for it */
    if (!which) { /* the configured default, else the best the server has */
        which = s->o.fallback ? s->o.fallback : model_lists(s) ? "model" : s->st ? "precomputed" : "popularity";
        if (!s->o.fallback && !strcmp(which, "popularity"))
            why = "no list model (--model) or store (--store) loaded";
    }
    if (!user) { /* related items */
        if (s->st && answer_stored(q, STORE_SIMILAR, item, &ex, K, "item-to-item"))
            goto done;
        if (item_id != UINT32_MAX && model_lists(s) && strcmp(which, "popularity")) {
            if ((!flt || filtered_out(q, flt, &excl, &n_excl)) && queue_recommend(q, &item_id, 1, excl, n_excl, K))
                q->finish = finish_recommend;
            goto done;
        }
        answer_popular(q, &ex, K, "no neighbours for this item");
        goto done;
    }
    if (!strcmp(which, "precomputed")) {
        if (!answer_stored(q, STORE_RECS, user, &ex, K, "precomputed"))
            answer_popular(q, &ex, K, s->st ? "no precomputed list for this user" : "no store (--store)");
    } else if (!strcmp(which, "item-to-item")) {
        if (!answer_i2i(q, hist, nh, &ex, K))
            answer_popular(q, &ex, K, nh ? "no neighbours for the user's items" : "unknown user");
    } else if (!strcmp(which, "model")) {
        if (!model_lists(s))
            answer_popular(q, &ex, K, "no list model loaded (--model)");
        else if (!nh)
            answer_popular(q, &ex, K, known ? "no history" : "unknown user");
        else if ((!flt || filtered_out(q, flt, &excl, &n_excl)) && queue_recommend(q, hist, nh, excl, n_excl, K))
            q->finish = finish_recommend;
    } else {
        answer_popular(q, &ex, K, why);
    }
done:
    pthread_rwlock_unlock(&s->S.lock);
    json_decref(b);
    free(excl), free(hist);
    fbound_free(flt);
    if (q->finish && q->n_jobs)
        api_submit(q);
}

/* ------------------------------------------------------------ ranking */

typedef struct {
    uint32_t n;
    const char *label[]; /* into the block, after the pointers */
} rank_ctx;

static int by_score(const void *a, const void *b)
{
    const scored x = *(const scored *)a, y = *(const scored *)b;
    const bool nx = x.score != x.score, ny = y.score != y.score;
    if (nx != ny)
        return nx ? 1 : -1; /* items without a score go last */
    if (!nx && x.score != y.score)
        return x.score > y.score ? -1 : 1;
    return x.id < y.id ? -1 : x.id > y.id; /* id: the position in inputList */
}

/* {"personalizedRanking":[{"itemId","score"}], ...}: the input items by score. */
static void write_ranking(req *q, const rank_ctx *c, const float *score, const char *recommender,
                          const char *reason, const char *version)
{
    scored *it = malloc(((size_t)c->n + 1) * sizeof *it);
    if (!it) {
        api_error(q, 503, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < c->n; i++)
        it[i] = (scored){i, score[i]};
    qsort(it, c->n, sizeof *it, by_score);
    char rid[40];
    api_rid(q->s, rid, sizeof rid);
    sbuf *b = &q->out;
    b->n = 0;
    sb_str(b, "{\"personalizedRanking\":[");
    for (uint32_t i = 0; i < c->n; i++) {
        sb_str(b, i ? ",{\"itemId\":" : "{\"itemId\":");
        sb_json(b, c->label[it[i].id], strlen(c->label[it[i].id]));
        sb_str(b, ",\"score\":");
        sb_num(b, it[i].score);
        sb_str(b, "}");
    }
    sb_printf(b, "],\"recommendationId\":\"%s\",\"recommender\":\"%s\"", rid, recommender);
    if (reason) {
        sb_str(b, ",\"fallback\":\"popularity\",\"reason\":");
        sb_json(b, reason, strlen(reason));
    }
    if (version && *version) {
        sb_str(b, ",\"modelVersion\":");
        sb_json(b, version, strlen(version));
    }
    sb_str(b, "}");
    q->status = 200;
    free(it);
}

/* Popularity as the ranking's scores (read lock held). */
static void rank_popular(req *q, const rank_ctx *c, const uint32_t *ids, const char *reason)
{
    float *sc = malloc(((size_t)c->n + 1) * sizeof *sc);
    if (!sc) {
        api_error(q, 503, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < c->n; i++)
        sc[i] = ids[i] < q->s->S.n_count ? (float)q->s->S.count[ids[i]] : NAN;
    write_ranking(q, c, sc, "popularity", reason, NULL);
    free(sc);
}

static void finish_ranking(req *q, sbuf *out, int *status)
{
    (void)out, (void)status;
    job *j = &q->jobs[0];
    if (j->http == 503 && !strcmp(j->err, "the model's queue is full")) {
        api_error(q, 503, "the model's queue is full: retry shortly");
        return;
    }
    pthread_rwlock_rdlock(&q->s->S.lock);
    if (j->http)
        rank_popular(q, q->ctx, j->items, j->err);
    else
        write_ranking(q, q->ctx, j->val, "model", NULL, j->version);
    pthread_rwlock_unlock(&q->s->S.lock);
}

static bool no_filter(req *q, json_t *b, const char *where)
{
    if (!json_object_get(b, "filterArn") && !json_object_get(b, "filterValues"))
        return true;
    api_error(q, 400, "%s: filters apply to /recommendations; rank only the items you want ranked", where);
    return false;
}

static const char *const rank_keys[] = {"userId", "inputList", "campaignArn", "context", "filterArn",
                                        "filterValues", NULL};

void api_ranking(req *q)
{
    server *s = q->s;
    const char *W = "GetPersonalizedRanking";
    json_t *b = parse_body(q);
    if (!b)
        return;
    const char *user;
    uint32_t *ids = NULL, n = 0, *hist = NULL, nh = 0;
    pthread_rwlock_rdlock(&s->S.lock);
    bool ok = keys_ok(q, b, W, rank_keys) && get_str(q, b, W, "userId", true, &user) &&
              no_filter(q, b, W) &&
              get_items(q, b, W, "inputList", s->o.max_results, &ids, &n);
    if (ok && !n) {
        api_error(q, 400, "%s: \"inputList\" with 1 to %u item ids is required", W, s->o.max_results);
        ok = false;
    }
    rank_ctx *c = NULL;
    if (ok) { /* the labels, copied: the answer is built after the body is gone */
        json_t *a = json_object_get(b, "inputList");
        size_t bytes = sizeof *c + (size_t)n * sizeof(char *);
        for (uint32_t i = 0; i < n; i++)
            bytes += json_string_length(json_array_get(a, i)) + 1;
        if (!(c = malloc(bytes))) {
            api_error(q, 503, "out of memory");
            ok = false;
        } else {
            c->n = n;
            char *p = (char *)&c->label[n];
            for (uint32_t i = 0; i < n; i++) {
                json_t *v = json_array_get(a, i);
                memcpy(p, json_string_value(v), json_string_length(v) + 1);
                c->label[i] = p;
                p += json_string_length(v) + 1;
            }
        }
    }
    if (ok) {
        const bool known = state_history(&s->S, user, strlen(user), &hist, &nh);
        q->ctx = c;
        if (!model_lists(s) || !nh) {
            rank_popular(q, c, ids, !model_lists(s) ? "no list model loaded (--model)"
                                    : known         ? "no history"
                                                    : "unknown user");
        } else if (!(q->jobs = calloc(1, sizeof *q->jobs))) {
            api_error(q, 503, "out of memory");
        } else {
            job *j = q->jobs;
            q->n_jobs = 1;
            j->kind = JOB_RANK;
            j->in = hist, j->n_in = nh;
            hist = NULL;
            j->items = ids, j->n_items = n;
            ids = NULL;
            if (!(j->val = malloc((size_t)n * sizeof *j->val)))
                api_error(q, 503, "out of memory");
            else
                q->finish = finish_ranking;
        }
    } else {
        free(c);
    }
    pthread_rwlock_unlock(&s->S.lock);
    json_decref(b);
    free(ids), free(hist);
    if (q->finish)
        api_submit(q);
}

/* ------------------------------------------------------------ events */

static const char *const event_keys[] = {"userId", "sessionId", "trackingId", "eventList", NULL};
static const char *const event_item_keys[] = {"eventType", "itemId", "sentAt", "eventId", "eventValue",
                                              "properties", "impression", "recommendationId", NULL};

/* Applies one event to the state (write lock held). */
static int apply_event(state *S, const char *user, const char *item)
{
    uint32_t id;
    return state_item(S, item, strlen(item), &id) || state_add(S, user, strlen(user), id) ? -1 : 0;
}

void api_events(req *q)
{
    server *s = q->s;
    const char *W = "PutEvents";
    json_t *b = parse_body(q);
    if (!b)
        return;
    const char *user = NULL, *session = NULL;
    sbuf rec = {0};
    size_t *off = NULL, *len = NULL;
    const char **recs = NULL;
    json_t *list = json_object_get(b, "eventList");
    bool ok = keys_ok(q, b, W, event_keys) && get_str(q, b, W, "userId", false, &user) &&
              get_str(q, b, W, "sessionId", true, &session);
    if (ok && (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MAX_EVENTS)) {
        api_error(q, 400, "%s: \"eventList\" must be an array of 1 to %d events", W, MAX_EVENTS);
        ok = false;
    }
    const size_t n = ok ? json_array_size(list) : 0;
    if (ok && (!(off = malloc((n + 1) * sizeof *off)) || !(len = malloc(n * sizeof *len)) ||
               !(recs = malloc(n * sizeof *recs)))) {
        api_error(q, 503, "out of memory");
        ok = false;
    }
    const char *who = user ? user : session; /* anonymous sessions keep their own history */
    for (size_t i = 0; ok && i < n; i++) {
        json_t *e = json_array_get(list, i);
        char where[48];
        snprintf(where, sizeof where, "%s: eventList[%zu]", W, i);
        const char *type, *item;
        json_t *at = json_object_get(e, "sentAt");
        if (!json_is_object(e)) {
            api_error(q, 400, "%s: expected an object", where);
            ok = false;
        } else if (!(ok = keys_ok(q, e, where, event_item_keys) && get_str(q, e, where, "eventType", true, &type) &&
                          get_str(q, e, where, "itemId", true, &item))) {
        } else if (!json_is_number(at) || json_number_value(at) < 0) {
            api_error(q, 400, "%s: \"sentAt\" (epoch seconds, a number >= 0) is required", where);
            ok = false;
        } else {
            off[i] = rec.n;
            sb_str(&rec, "{\"userId\":");
            sb_json(&rec, who, strlen(who));
            sb_str(&rec, ",\"sessionId\":");
            sb_json(&rec, session, strlen(session));
            sb_str(&rec, ",\"eventType\":");
            sb_json(&rec, type, strlen(type));
            sb_str(&rec, ",\"itemId\":");
            sb_json(&rec, item, strlen(item));
            sb_printf(&rec, ",\"sentAt\":%.17g}", json_number_value(at));
            len[i] = rec.n - off[i];
        }
    }
    if (ok && rec.failed) {
        api_error(q, 503, "out of memory");
        ok = false;
    }
    if (ok) {
        for (size_t i = 0; i < n; i++)
            recs[i] = rec.p + off[i];
        char err[200];
        /* in order: logged (durably, when there is a store), then visible */
        pthread_mutex_lock(&s->events_lock);
        if (s->st && store_append_events(s->st, recs, len, n, err, sizeof err)) {
            api_error(q, 503, "%s", err);
            ok = false;
        }
        int rc = 0;
        if (ok) {
            pthread_rwlock_wrlock(&s->S.lock);
            for (size_t i = 0; !rc && i < n; i++)
                rc = apply_event(&s->S, who,
                                 json_string_value(json_object_get(json_array_get(list, i), "itemId")));
            pthread_rwlock_unlock(&s->S.lock);
        }
        pthread_mutex_unlock(&s->events_lock);
        if (ok && rc)
            api_error(q, 503, "out of memory (the events are logged)");
        else if (ok) {
            api_count_event(s, n);
            q->status = 200;
            sb_printf(&q->out, "{\"accepted\":%zu,\"durable\":%s}", n, s->st ? "true" : "false");
        }
    }
    free(rec.p), free(off), free(len), free(recs);
    json_decref(b);
}

int api_replay_event(void *arg, const char *rec, size_t len)
{
    server *s = arg;
    json_error_t e;
    json_t *j = json_loadb(rec, len, 0, &e);
    const char *user = j ? json_string_value(json_object_get(j, "userId")) : NULL;
    const char *item = j ? json_string_value(json_object_get(j, "itemId")) : NULL;
    int rc = user && item ? 0 : -1;
    if (!rc) {
        pthread_rwlock_wrlock(&s->S.lock);
        rc = apply_event(&s->S, user, item);
        pthread_rwlock_unlock(&s->S.lock);
    }
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------ invocations */

typedef struct {
    bool scorer, binary;
} inv_ctx;

static void finish_invocations(req *q, sbuf *out, int *status)
{
    (void)out, (void)status;
    const inv_ctx *c = q->ctx;
    for (uint32_t i = 0; i < q->n_jobs; i++)
        if (q->jobs[i].http == 503 && !strcmp(q->jobs[i].err, "the model's queue is full")) {
            api_error(q, 503, "the model's queue is full: retry shortly");
            return;
        }
    sbuf *b = &q->out;
    b->n = 0;
    if (!q->jsonl)
        sb_str(b, "{\"predictions\":[");
    pthread_rwlock_rdlock(&q->s->S.lock);
    for (uint32_t i = 0; i < q->n_jobs; i++) {
        const job *j = &q->jobs[i];
        if (i && !q->jsonl)
            sb_str(b, ",");
        if (j->http) {
            sb_str(b, "{\"error\":");
            sb_json(b, j->err, strlen(j->err));
            sb_str(b, "}");
        } else if (c->scorer) {
            sb_str(b, "{\"score\":");
            sb_num(b, j->val[0]);
            if (c->binary)
                sb_printf(b, ",\"predicted_label\":%d", j->val[0] >= 0.5f);
            sb_str(b, "}");
        } else {
            sb_str(b, "{\"itemList\":[");
            for (uint32_t r = 0, w = 0; r < j->count; r++) {
                const char *l = sten_index_label(q->s->S.items, j->idx[r]);
                if (!l)
                    continue;
                sb_str(b, w++ ? ",{\"itemId\":" : "{\"itemId\":");
                sb_json(b, l, strlen(l));
                sb_str(b, ",\"score\":");
                sb_num(b, j->val[r]);
                sb_str(b, "}");
            }
            sb_str(b, "]}");
        }
        if (q->jsonl)
            sb_str(b, "\n");
    }
    pthread_rwlock_unlock(&q->s->S.lock);
    if (!q->jsonl) {
        const char *v = q->n_jobs ? q->jobs[0].version : "";
        sb_str(b, "],\"modelVersion\":");
        sb_json(b, v, strlen(v));
        sb_str(b, "}");
    }
    q->status = 200;
}

static const char *const inst_score_keys[] = {"features", NULL};
static const char *const inst_list_keys[] = {"userId", "items", "numResults", NULL};

/* One instance as a job (read lock held). */
static bool make_job(req *q, json_t *inst, const char *where, bool scorer, job *j)
{
    if (!json_is_object(inst)) {
        api_error(q, 400, "%s: expected an object", where);
        return false;
    }
    if (scorer) {
        json_t *f = json_object_get(inst, "features");
        if (!keys_ok(q, inst, where, inst_score_keys))
            return false;
        if (!json_is_array(f) || json_array_size(f) == 0 || json_array_size(f) > (1u << 24)) {
            api_error(q, 400, "%s: \"features\" must be a non-empty array of numbers", where);
            return false;
        }
        const size_t n = json_array_size(f);
        j->kind = JOB_SCORE;
        j->in = malloc(n * sizeof *j->in);
        j->in_val = malloc(n * sizeof *j->in_val);
        j->val = malloc(sizeof *j->val);
        if (!j->in || !j->in_val || !j->val) {
            api_error(q, 503, "out of memory");
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(f, i);
            if (!json_is_number(v) || !isfinite(json_number_value(v))) {
                api_error(q, 400, "%s: \"features\"[%zu] must be a finite number", where, i);
                return false;
            }
            const double x = json_number_value(v);
            if (x != 0) { /* dense in, sparse to the model */
                j->in[j->n_in] = (uint32_t)i;
                j->in_val[j->n_in++] = (float)x;
            }
        }
        return true;
    }
    const char *user;
    uint32_t *items = NULL, n_items = 0, *hist = NULL, nh = 0, K;
    if (!keys_ok(q, inst, where, inst_list_keys) || !get_str(q, inst, where, "userId", false, &user) ||
        !get_count(q, inst, where, "numResults", 1, q->s->o.max_results, 25, &K) ||
        !get_items(q, inst, where, "items", MAX_EXCLUDE, &items, &n_items))
        return false;
    if (user)
        state_history(&q->s->S, user, strlen(user), &hist, &nh);
    uint32_t *all = malloc(((size_t)nh + n_items + 1) * sizeof *all), n = 0;
    for (uint32_t i = 0; all && i < nh; i++)
        all[n++] = hist[i];
    for (uint32_t i = 0; all && i < n_items; i++)
        if (items[i] != UINT32_MAX)
            all[n++] = items[i];
    free(items), free(hist);
    j->kind = JOB_RECOMMEND;
    j->K = K;
    j->in = all, j->n_in = n;
    j->idx = malloc((size_t)K * sizeof *j->idx);
    j->val = malloc((size_t)K * sizeof *j->val);
    if (!all || !j->idx || !j->val) {
        api_error(q, 503, "out of memory");
        return false;
    }
    return true;
}

static bool has_prefix(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p)) && (!s[strlen(p)] || s[strlen(p)] == ';' || s[strlen(p)] == ' ');
}

void api_invocations(req *q, const char *ct)
{
    server *s = q->s;
    if (!s->bat) {
        api_error(q, 400, "/invocations runs the model: the server was started without --model");
        return;
    }
    q->jsonl = ct && (has_prefix(ct, "application/jsonlines") || has_prefix(ct, "application/jsonl") ||
                      has_prefix(ct, "application/x-jsonlines"));
    if (ct && !q->jsonl && !has_prefix(ct, "application/json")) {
        q->jsonl = false;
        api_error(q, 415, "Content-Type %s: expected application/json or application/jsonlines", ct);
        return;
    }
    /* the instances: {"instances":[...]} or one JSON object per line */
    json_t *insts = json_array();
    json_t *b = NULL;
    bool ok = insts != NULL;
    if (ok && !q->jsonl) {
        if (!(b = parse_body(q)))
            ok = false;
        else if (!keys_ok(q, b, "body", (const char *const[]){"instances", "configuration", NULL}))
            ok = false;
        else if (!json_is_array(json_object_get(b, "instances"))) {
            api_error(q, 400, "body: \"instances\" (an array) is required");
            ok = false;
        } else {
            json_array_extend(insts, json_object_get(b, "instances"));
        }
    } else if (ok) {
        const char *p = q->body ? q->body : "", *end = p + q->len;
        for (size_t line = 1; ok && p < end; line++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *e = nl ? nl : end;
            size_t k = 0;
            while (p + k < e && (p[k] == ' ' || p[k] == '\r' || p[k] == '\t'))
                k++;
            if (p + k < e) {
                json_error_t je;
                json_t *o = json_loadb(p, (size_t)(e - p), JSON_REJECT_DUPLICATES, &je);
                if (!o) {
                    api_error(q, 400, "body:%zu:%d: %s", line, je.column, je.text);
                    ok = false;
                } else {
                    json_array_append_new(insts, o);
                }
            }
            p = e + (nl != NULL);
        }
    }
    const size_t n = ok ? json_array_size(insts) : 0;
    if (ok && (n == 0 || n > MAX_INSTANCES)) {
        api_error(q, 400, "body: 1 to %d instances expected, got %zu", MAX_INSTANCES, n);
        ok = false;
    }
    inv_ctx *c = ok ? calloc(1, sizeof *c) : NULL;
    if (ok && (!c || !(q->jobs = calloc(n, sizeof *q->jobs)))) {
        api_error(q, 503, "out of memory");
        ok = false;
    }
    if (ok) {
        q->ctx = c;
        c->scorer = batcher_scorer(s->bat, &c->binary);
        pthread_rwlock_rdlock(&s->S.lock);
        for (size_t i = 0; ok && i < n; i++) {
            char where[40];
            snprintf(where, sizeof where, "instances[%zu]", i);
            q->n_jobs = (uint32_t)i + 1;
            ok = make_job(q, json_array_get(insts, i), where, c->scorer, &q->jobs[i]);
        }
        pthread_rwlock_unlock(&s->S.lock);
    } else {
        free(c);
    }
    json_decref(insts);
    json_decref(b);
    if (ok) {
        q->finish = finish_invocations;
        api_submit(q);
    }
}
