/* libcoord C API: versions, the error table, bad input, node operations,
 * multi, watches (incl. the unregister guarantee), cancellation and every
 * recipe. Runs against the server in COORD_TEST_SERVERS. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

static void test_version(void) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", COORD_VERSION_MAJOR, COORD_VERSION_MINOR,
           COORD_VERSION_PATCH);
  CHECK(strcmp(coord_version(), want) == 0);
  CHECK(coord_abi_version() == COORD_ABI_VERSION);
}

static void test_error_table(void) {
  /* Numbers are the core table's; a renumbering breaks this test. */
  struct { coord_result code; const char *name; } rows[] = {
      {COORD_RESULT_OK, "OK"},
      {COORD_RESULT_CONNECTION_LOSS, "CONNECTION_LOSS"},
      {COORD_RESULT_INVALID_PATH, "INVALID_PATH"},
      {COORD_RESULT_NO_NODE, "NO_NODE"},
      {COORD_RESULT_BAD_VERSION, "BAD_VERSION"},
      {COORD_RESULT_NODE_EXISTS, "NODE_EXISTS"},
      {COORD_RESULT_SESSION_EXPIRED, "SESSION_EXPIRED"},
      {COORD_RESULT_LOCK_TIMEOUT, "LOCK_TIMEOUT"},
      {COORD_RESULT_NULL_PARAMETER, "NULL_PARAMETER"},
      {COORD_RESULT_PANIC, "PANIC"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    CHECK(strcmp(coord_result_name(rows[i].code), rows[i].name) == 0);
    CHECK(strlen(coord_result_message(rows[i].code)) > 0);
  }
  CHECK(COORD_RESULT_NO_NODE == 101 && COORD_RESULT_NODE_EXISTS == 110);
  CHECK(COORD_RESULT_CONNECTION_LOSS == 4 && COORD_RESULT_SESSION_EXPIRED == 112);
  CHECK(COORD_RESULT_NULL_PARAMETER >= 1000 && COORD_RESULT_INVALID_UTF8 < 1100);
  CHECK(strcmp(coord_result_message(424242), "unknown result code") == 0);
  CHECK(strcmp(coord_result_message(COORD_RESULT_NO_NODE), "no node") == 0);
}

static void test_bad_input(coord_client *c) {
  uint8_t *data = NULL;
  size_t len = 0;
  coord_client *none = NULL;
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_get(NULL, "/x", &data, &len, NULL));
  CHECK(strstr(coord_last_error_message(), "client") != NULL);
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_get(c, NULL, &data, &len, NULL));
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_get(c, "/x", NULL, &len, NULL));
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_connect(NULL, 0, NULL));
  EXPECT_RC(COORD_RESULT_INVALID_PATH, coord_get(c, "\xff\xfe", &data, &len, NULL));
  EXPECT_RC(COORD_RESULT_INVALID_PATH, coord_get(c, "no-slash", &data, &len, NULL));
  EXPECT_RC(COORD_RESULT_INVALID_PATH, coord_create(c, "/a//b", NULL, 0, 0, 0, NULL, NULL));
  char longpath[70000];
  longpath[0] = '/';
  memset(longpath + 1, 'a', sizeof longpath - 2);
  longpath[sizeof longpath - 1] = '\0';
  coord_result rc = coord_create(c, longpath, NULL, 0, 0, 0, NULL, NULL);
  CHECK(rc == COORD_RESULT_INVALID_PATH || rc == COORD_RESULT_TOO_LARGE);
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_create(c, "/m", NULL, 0, 99, 0, NULL, NULL));
  EXPECT_RC(COORD_RESULT_INVALID_UTF8, coord_connect("\xff", 0, &none));
  CHECK(none == NULL); /* out-params untouched on failure */
  EXPECT_RC(COORD_RESULT_NO_NODE, coord_get(c, "/does/not/exist", &data, &len, NULL));
  CHECK(data == NULL && len == 0);
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_lock_acquire(NULL, -1, NULL, NULL));
  /* Every free accepts NULL. */
  coord_client_free(NULL);
  coord_lock_free(NULL);
  coord_rwlock_free(NULL);
  coord_semaphore_free(NULL);
  coord_lease_free(NULL);
  coord_election_free(NULL);
  coord_leader_free(NULL);
  coord_watch_free(NULL);
  coord_barrier_free(NULL);
  coord_double_barrier_free(NULL);
  coord_queue_free(NULL);
  coord_counter_free(NULL);
  coord_discovery_free(NULL);
  coord_registration_free(NULL);
  coord_provider_free(NULL);
  coord_cancel_token_free(NULL);
  coord_free_string(NULL);
  coord_free_bytes(NULL, 0);
  coord_free_string_array(NULL, 0);
  coord_free_op_results(NULL, 0);
  coord_free_instances(NULL, 0);
}

static void test_nodes(coord_client *c) {
  char *created = NULL;
  coord_stat st;
  OK(coord_create(c, "/t", (const uint8_t *)"hello", 5, COORD_CREATE_PERSISTENT, 0, &created,
                  &st));
  CHECK(strcmp(created, "/t") == 0 && st.version == 0 && st.data_length == 5);
  coord_free_string(created);
  EXPECT_RC(COORD_RESULT_NODE_EXISTS, coord_create(c, "/t", NULL, 0, 0, 0, NULL, NULL));
  OK(coord_create(c, "/t/seq-", NULL, 0, COORD_CREATE_PERSISTENT_SEQUENTIAL, 0, &created, NULL));
  CHECK(strncmp(created, "/t/seq-", 7) == 0 && strlen(created) == 17);
  coord_free_string(created);
  OK(coord_create(c, "/t/eph", NULL, 0, COORD_CREATE_EPHEMERAL, 0, NULL, NULL));
  OK(coord_create(c, "/t/ttl", NULL, 0, COORD_CREATE_PERSISTENT_WITH_TTL, 60000, NULL, NULL));

  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_get(c, "/t", &data, &len, &st));
  CHECK(len == 5 && memcmp(data, "hello", 5) == 0);
  coord_free_bytes(data, len);
  EXPECT_RC(COORD_RESULT_BAD_VERSION, coord_set(c, "/t", (const uint8_t *)"x", 1, 7, NULL));
  OK(coord_set(c, "/t", (const uint8_t *)"world!", 6, 0, &st));
  CHECK(st.version == 1);

  bool exists = false;
  OK(coord_exists(c, "/t", &exists, &st));
  CHECK(exists && st.num_children == 3);
  OK(coord_exists(c, "/nope", &exists, NULL));
  CHECK(!exists);

  char **names = NULL;
  size_t n = 0;
  OK(coord_children(c, "/t", &names, &n));
  CHECK(n == 3);
  int saw_eph = 0;
  for (size_t i = 0; i < n; i++) saw_eph |= strcmp(names[i], "eph") == 0;
  CHECK(saw_eph);
  coord_free_string_array(names, n);

  coord_op ops[3] = {
      {.kind = COORD_OP_CHECK, .path = "/t", .version = 1},
      {.kind = COORD_OP_CREATE, .path = "/t/m", .data = (const uint8_t *)"m", .data_len = 1,
       .mode = COORD_CREATE_PERSISTENT},
      {.kind = COORD_OP_SET, .path = "/t", .data = NULL, .data_len = 0, .version = -1},
  };
  coord_op_result *res = NULL;
  OK(coord_multi(c, ops, 3, &res));
  CHECK(res[1].kind == COORD_OP_CREATE && strcmp(res[1].path, "/t/m") == 0);
  CHECK(res[2].stat.version == 2);
  coord_free_op_results(res, 3);
  /* A failing op: nothing applied, the detail names the op. */
  ops[0].version = 1;
  ops[1].path = "/t/m2";
  res = NULL;
  EXPECT_RC(COORD_RESULT_BAD_VERSION, coord_multi(c, ops, 3, &res));
  CHECK(res == NULL);
  CHECK(strstr(coord_last_error_message(), "op #0") != NULL);
  OK(coord_exists(c, "/t/m2", &exists, NULL));
  CHECK(!exists);

  OK(coord_sync(c, "/t"));
  EXPECT_RC(COORD_RESULT_NOT_EMPTY, coord_delete(c, "/t", -1));
  OK(coord_delete(c, "/t/m", -1));
}

/* ---- watches ---- */

typedef struct {
  atomic_int calls;
  atomic_int last_type;
  atomic_int last_result;
  atomic_int in_callback;
  atomic_int after_free;
  atomic_int freed;
} watch_state;

static void on_event(void *userdata, const coord_watch_event *ev) {
  watch_state *s = userdata;
  atomic_store(&s->in_callback, 1);
  if (atomic_load(&s->freed)) atomic_fetch_add(&s->after_free, 1);
  atomic_store(&s->last_type, (int)ev->type);
  atomic_store(&s->last_result, (int)ev->result);
  CHECK(ev->result != COORD_RESULT_OK || ev->path != NULL);
  sleep_ms(20); /* widen the window in which coord_watch_free must wait */
  atomic_fetch_add(&s->calls, 1);
  atomic_store(&s->in_callback, 0);
}

static int wait_calls(watch_state *s, int n) {
  for (int i = 0; i < 500 && atomic_load(&s->calls) < n; i++) sleep_ms(10);
  return atomic_load(&s->calls);
}

static void test_watches(coord_client *c) {
  watch_state s = {0};
  coord_watch *w = NULL;
  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_create(c, "/w", NULL, 0, 0, 0, NULL, NULL));
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER,
            coord_get_watch(c, "/w", NULL, &s, &data, &len, NULL, &w));
  OK(coord_get_watch(c, "/w", on_event, &s, &data, &len, NULL, &w));
  OK(coord_set(c, "/w", (const uint8_t *)"1", 1, -1, NULL));
  CHECK(wait_calls(&s, 1) == 1);
  CHECK(atomic_load(&s.last_type) == COORD_EVENT_NODE_DATA_CHANGED);
  coord_watch_free(w);

  /* exists watch on a missing node fires on creation */
  watch_state e = {0};
  bool exists = true;
  OK(coord_exists_watch(c, "/w/new", on_event, &e, &exists, NULL, &w));
  CHECK(!exists);
  OK(coord_create(c, "/w/new", NULL, 0, 0, 0, NULL, NULL));
  CHECK(wait_calls(&e, 1) == 1 && atomic_load(&e.last_type) == COORD_EVENT_NODE_CREATED);
  coord_watch_free(w);

  /* children watch */
  watch_state ch = {0};
  char **names = NULL;
  size_t n = 0;
  OK(coord_children_watch(c, "/w", on_event, &ch, &names, &n, &w));
  coord_free_string_array(names, n);
  OK(coord_create(c, "/w/other", NULL, 0, 0, 0, NULL, NULL));
  CHECK(wait_calls(&ch, 1) == 1 &&
        atomic_load(&ch.last_type) == COORD_EVENT_NODE_CHILDREN_CHANGED);
  coord_watch_free(w);

  /* persistent: many events, then free while events are still arriving:
   * no callback may run after coord_watch_free returned. */
  watch_state p = {0};
  OK(coord_watch_add(c, "/w", COORD_WATCH_PERSISTENT, on_event, &p, &w));
  for (int i = 0; i < 5; i++) OK(coord_set(c, "/w", (const uint8_t *)"x", 1, -1, NULL));
  CHECK(wait_calls(&p, 5) == 5);
  for (int i = 0; i < 5; i++) OK(coord_set(c, "/w", (const uint8_t *)"y", 1, -1, NULL));
  coord_watch_free(w);
  atomic_store(&p.freed, 1);
  CHECK(atomic_load(&p.in_callback) == 0);
  int frozen = atomic_load(&p.calls);
  sleep_ms(300);
  CHECK(atomic_load(&p.calls) == frozen && atomic_load(&p.after_free) == 0);

  /* recursive watch sees a grandchild */
  watch_state r = {0};
  OK(coord_watch_add(c, "/w", COORD_WATCH_PERSISTENT_RECURSIVE, on_event, &r, &w));
  OK(coord_create(c, "/w/new/deep", NULL, 0, 0, 0, NULL, NULL));
  CHECK(wait_calls(&r, 1) >= 1 && atomic_load(&r.last_type) == COORD_EVENT_NODE_CREATED);
  coord_watch_free(w);
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS,
            coord_watch_add(c, "/w", 42, on_event, &r, &w));
}

/* A closed watch delivers nothing more, even events that had already
 * arrived: the callback frees its own watch at the first of three. */
typedef struct {
  atomic_int calls;
  coord_watch *self;
} closing_state;

static void on_event_close(void *userdata, const coord_watch_event *ev) {
  closing_state *s = userdata;
  (void)ev;
  atomic_fetch_add(&s->calls, 1);
  coord_watch_free(s->self);
  s->self = NULL;
}

static void test_watch_close_drops_ready_events(coord_client *c) {
  closing_state s = {0};
  OK(coord_create(c, "/wc", NULL, 0, 0, 0, NULL, NULL));
  /* A slow callback of another watch holds up the callback thread while
   * the three events arrive, so the later ones are already queued (or
   * ready in the stream) when the first callback closes its watch. */
  watch_state slow = {0};
  coord_watch *sw = NULL;
  OK(coord_watch_add(c, "/wc", COORD_WATCH_PERSISTENT, on_event, &slow, &sw));
  OK(coord_watch_add(c, "/wc", COORD_WATCH_PERSISTENT, on_event_close, &s, &s.self));
  for (int i = 0; i < 3; i++) OK(coord_set(c, "/wc", (const uint8_t *)"v", 1, -1, NULL));
  CHECK(wait_calls(&slow, 3) == 3);
  sleep_ms(100);
  CHECK(atomic_load(&s.calls) == 1);
  coord_watch_free(sw);
}

/* ---- locks ---- */

static atomic_int lost_calls;
static void on_lost(void *userdata) {
  (void)userdata;
  atomic_fetch_add(&lost_calls, 1);
}

typedef struct {
  coord_cancel_token *token;
} cancel_arg;

static void *cancel_later(void *arg) {
  cancel_arg *a = arg;
  sleep_ms(200);
  coord_cancel_token_cancel(a->token);
  return NULL;
}

static void test_locks(coord_client *c) {
  coord_lock *a = NULL, *b = NULL;
  uint64_t t1 = 0, t2 = 0, tok = 0;
  bool got = true;
  OK(coord_lock_new(c, "/locks/m", &a));
  OK(coord_lock_new(c, "/locks/m", &b));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_lock_token(a, &tok));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_lock_release(a));
  OK(coord_lock_on_lost(a, on_lost, NULL));
  OK(coord_lock_acquire(a, 1000, NULL, &t1));
  OK(coord_lock_token(a, &tok));
  CHECK(tok == t1);
  OK(coord_lock_try_acquire(b, &got, &t2));
  CHECK(!got);
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_lock_acquire(b, 100, NULL, &t2));
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_lock_acquire(b, -7, NULL, &t2));

  /* cancel a waiting acquire from another thread */
  coord_cancel_token *ct = NULL;
  OK(coord_cancel_token_new(&ct));
  cancel_arg arg = {ct};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, cancel_later, &arg) == 0);
  double t0 = now_s();
  EXPECT_RC(COORD_RESULT_CANCELLED, coord_lock_acquire(b, -1, ct, &t2));
  CHECK(now_s() - t0 < 5.0);
  pthread_join(th, NULL);
  OK(coord_cancel_token_reset(ct));
  coord_cancel_token_free(ct);

  /* guarded multi commits while held */
  coord_op op = {.kind = COORD_OP_CREATE, .path = "/locks/guarded", .mode = COORD_CREATE_PERSISTENT};
  coord_op_result *res = NULL;
  OK(coord_lock_guarded(a, &op, 1, &res));
  CHECK(strcmp(res[0].path, "/locks/guarded") == 0);
  coord_free_op_results(res, 1);

  /* lost callback: someone deletes our lock node */
  char **names = NULL;
  size_t n = 0;
  OK(coord_children(c, "/locks/m", &names, &n));
  CHECK(n == 1);
  char node[256];
  snprintf(node, sizeof node, "/locks/m/%s", names[0]);
  coord_free_string_array(names, n);
  OK(coord_delete(c, node, -1));
  for (int i = 0; i < 300 && atomic_load(&lost_calls) == 0; i++) sleep_ms(10);
  CHECK(atomic_load(&lost_calls) == 1);
  bool held = true;
  OK(coord_lock_is_held(a, &held));
  CHECK(!held);
  op.path = "/locks/guarded2";
  EXPECT_RC(COORD_RESULT_LOCK_LOST, coord_lock_guarded(a, &op, 1, NULL));
  OK(coord_lock_release(a));
  OK(coord_lock_try_acquire(b, &got, &t2));
  CHECK(got && t2 > t1);
  OK(coord_lock_release(b));
  coord_lock_free(a);
  coord_lock_free(b);

  /* read-write lock */
  coord_rwlock *r1 = NULL, *r2 = NULL;
  OK(coord_rwlock_new(c, "/locks/rw", &r1));
  OK(coord_rwlock_new(c, "/locks/rw", &r2));
  OK(coord_rwlock_read_acquire(r1, 1000, NULL, NULL));
  OK(coord_rwlock_read_acquire(r2, 1000, NULL, NULL));
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_rwlock_write_acquire(r2, 100, NULL, NULL));
  OK(coord_rwlock_read_release(r1));
  OK(coord_rwlock_read_release(r2));
  OK(coord_rwlock_write_acquire(r2, 1000, NULL, &tok));
  OK(coord_rwlock_write_release(r2));
  coord_rwlock_free(r1);
  coord_rwlock_free(r2);

  /* semaphore with 2 leases */
  coord_semaphore *s = NULL;
  coord_lease *l1 = NULL, *l2 = NULL, *l3 = NULL;
  OK(coord_semaphore_new(c, "/locks/sem", 2, &s));
  OK(coord_semaphore_acquire(s, 1000, NULL, &l1));
  OK(coord_semaphore_acquire(s, 1000, NULL, &l2));
  OK(coord_semaphore_try_acquire(s, &l3));
  CHECK(l3 == NULL);
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_semaphore_acquire(s, 100, NULL, &l3));
  OK(coord_lease_token(l1, &t1));
  OK(coord_lease_token(l2, &t2));
  CHECK(t2 > t1);
  OK(coord_lease_release(l1));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_lease_release(l1));
  OK(coord_semaphore_acquire(s, 1000, NULL, &l3));
  coord_lease_free(l1);
  coord_lease_free(l2);
  coord_lease_free(l3);
  coord_semaphore_free(s);
}

/* Status calls on a handle whose acquire waits in another thread answer at
 * once; a lease reports its loss like a lock. */
typedef struct {
  coord_lock *lock;
  atomic_int done;
  coord_result rc;
  uint64_t token;
} acquire_arg;

static void *acquire_in_thread(void *arg) {
  acquire_arg *a = arg;
  a->rc = coord_lock_acquire(a->lock, 10000, NULL, &a->token);
  atomic_store(&a->done, 1);
  return NULL;
}

static size_t count_children(coord_client *c, const char *path) {
  char **names = NULL;
  size_t n = 0;
  OK(coord_children(c, path, &names, &n));
  coord_free_string_array(names, n);
  return n;
}

static void test_lock_status_never_waits(coord_client *c) {
  coord_lock *holder = NULL;
  uint64_t t = 0;
  OK(coord_lock_new(c, "/locks/status", &holder));
  OK(coord_lock_acquire(holder, 1000, NULL, &t));
  acquire_arg arg = {.lock = NULL};
  atomic_init(&arg.done, 0);
  OK(coord_lock_new(c, "/locks/status", &arg.lock));
  pthread_t th;
  CHECK(pthread_create(&th, NULL, acquire_in_thread, &arg) == 0);
  for (int i = 0; i < 500 && count_children(c, "/locks/status") < 2; i++) sleep_ms(10);
  CHECK(count_children(c, "/locks/status") == 2);

  double t0 = now_s();
  bool held = true, got = true;
  uint64_t tok = 0;
  OK(coord_lock_is_held(arg.lock, &held));
  CHECK(!held);
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_lock_token(arg.lock, &tok));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_lock_release(arg.lock));
  OK(coord_lock_try_acquire(arg.lock, &got, &tok));
  CHECK(!got);
  CHECK(now_s() - t0 < 1.0);
  CHECK(!atomic_load(&arg.done)); /* the acquire still waits */

  OK(coord_lock_release(holder));
  pthread_join(th, NULL);
  OK(arg.rc);
  OK(coord_lock_is_held(arg.lock, &held));
  CHECK(held);
  OK(coord_lock_token(arg.lock, &tok));
  CHECK(tok == arg.token && tok > t);
  OK(coord_lock_release(arg.lock));
  coord_lock_free(arg.lock);
  coord_lock_free(holder);
}

static atomic_int lease_lost_calls;
static void on_lease_lost(void *userdata) {
  (void)userdata;
  atomic_fetch_add(&lease_lost_calls, 1);
}

static void test_lease_loss(coord_client *c) {
  coord_semaphore *s = NULL;
  coord_lease *l = NULL;
  bool lost = true;
  OK(coord_semaphore_new(c, "/locks/semloss", 1, &s));
  OK(coord_semaphore_acquire(s, 1000, NULL, &l));
  OK(coord_lease_on_lost(l, on_lease_lost, NULL));
  OK(coord_lease_is_lost(l, &lost));
  CHECK(!lost);
  char **names = NULL;
  size_t n = 0;
  OK(coord_children(c, "/locks/semloss", &names, &n));
  CHECK(n == 1);
  char node[256];
  snprintf(node, sizeof node, "/locks/semloss/%s", names[0]);
  coord_free_string_array(names, n);
  OK(coord_delete(c, node, -1));
  for (int i = 0; i < 300 && atomic_load(&lease_lost_calls) == 0; i++) sleep_ms(10);
  CHECK(atomic_load(&lease_lost_calls) == 1);
  OK(coord_lease_is_lost(l, &lost));
  CHECK(lost);
  OK(coord_lease_release(l)); /* nothing left to free */
  coord_lease_free(l);
  coord_semaphore_free(s);
}

/* ---- election ---- */

typedef struct {
  atomic_int calls;
  atomic_ullong token;
  atomic_int nobody;
} observer_state;

static void on_leader(void *userdata, coord_result result, const coord_leader *leader) {
  observer_state *o = userdata;
  if (result == COORD_RESULT_OK) {
    if (leader == NULL) {
      atomic_fetch_add(&o->nobody, 1);
    } else {
      atomic_store(&o->token, leader->token);
    }
  }
  atomic_fetch_add(&o->calls, 1);
}

static void test_election(coord_client *c) {
  coord_election *e1 = NULL, *e2 = NULL;
  uint64_t t1 = 0, t2 = 0;
  coord_leader *leader = NULL;
  OK(coord_election_leader(c, "/elect", &leader));
  CHECK(leader == NULL);
  observer_state o = {0};
  coord_watch *w = NULL;
  OK(coord_election_observe(c, "/elect", on_leader, &o, &w));
  OK(coord_election_new(c, "/elect", (const uint8_t *)"one", 3, &e1));
  OK(coord_election_new(c, "/elect", (const uint8_t *)"two", 3, &e2));
  OK(coord_election_campaign(e1, 2000, NULL, &t1));
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_election_campaign(e2, 100, NULL, &t2));
  OK(coord_election_leader(c, "/elect", &leader));
  CHECK(leader != NULL && leader->identity_len == 3 && memcmp(leader->identity, "one", 3) == 0);
  CHECK(leader->token == t1);
  coord_leader_free(leader);
  bool is = false;
  OK(coord_election_is_leader(e1, &is));
  CHECK(is);
  OK(coord_election_resign(e1));
  OK(coord_election_campaign(e2, 2000, NULL, &t2));
  CHECK(t2 > t1);
  for (int i = 0; i < 300 && atomic_load(&o.token) != t2; i++) sleep_ms(10);
  CHECK(atomic_load(&o.token) == t2);
  coord_watch_free(w);
  coord_election_free(e1);
  coord_election_free(e2);
}

/* A watch or an observer whose client is closed ends normally: no final
 * callback (as a Python or Node iteration just ends). */
static void test_client_close_ends_watches_normally(void) {
  coord_client *c2 = NULL;
  OK(coord_connect(test_servers(), 5000, &c2));
  watch_state s = {0};
  coord_watch *w = NULL;
  OK(coord_watch_add(c2, "/wcc", COORD_WATCH_PERSISTENT, on_event, &s, &w));
  observer_state o = {0};
  coord_watch *ow = NULL;
  OK(coord_election_observe(c2, "/wcc-e", on_leader, &o, &ow));
  for (int i = 0; i < 300 && atomic_load(&o.calls) == 0; i++) sleep_ms(10);
  CHECK(atomic_load(&o.calls) == 1 && atomic_load(&o.nobody) == 1);
  OK(coord_client_close(c2));
  sleep_ms(300);
  CHECK(atomic_load(&s.calls) == 0);
  CHECK(atomic_load(&o.calls) == 1);
  coord_watch_free(w);
  coord_watch_free(ow);
  coord_client_free(c2);
}

/* ---- barrier, queue, counter, discovery ---- */

static void *lower_later(void *arg) {
  sleep_ms(100);
  OK(coord_barrier_remove((coord_barrier *)arg));
  return NULL;
}

typedef struct {
  coord_client *c;
  const char *id;
} member_arg;

static void *double_member(void *arg) {
  member_arg *m = arg;
  coord_double_barrier *d = NULL;
  OK(coord_double_barrier_new(m->c, "/dbar", m->id, 2, &d));
  OK(coord_double_barrier_enter(d, 5000, NULL));
  OK(coord_double_barrier_leave(d, 5000, NULL));
  coord_double_barrier_free(d);
  return NULL;
}

static void test_recipes(coord_client *c) {
  coord_barrier *b = NULL;
  OK(coord_barrier_new(c, "/bar", &b));
  OK(coord_barrier_set(b));
  EXPECT_RC(COORD_RESULT_OPERATION_TIMEOUT, coord_barrier_wait(b, 50, NULL));
  pthread_t th;
  CHECK(pthread_create(&th, NULL, lower_later, b) == 0);
  OK(coord_barrier_wait(b, 5000, NULL));
  pthread_join(th, NULL);
  coord_barrier_free(b);

  pthread_t m1, m2;
  member_arg a1 = {c, "m1"}, a2 = {c, "m2"};
  CHECK(pthread_create(&m1, NULL, double_member, &a1) == 0);
  CHECK(pthread_create(&m2, NULL, double_member, &a2) == 0);
  pthread_join(m1, NULL);
  pthread_join(m2, NULL);

  coord_queue *q = NULL;
  OK(coord_queue_new(c, "/queue", &q));
  OK(coord_queue_put(q, (const uint8_t *)"a", 1, NULL));
  char *node = NULL;
  OK(coord_queue_put(q, (const uint8_t *)"bb", 2, &node));
  CHECK(strncmp(node, "/queue/", 7) == 0);
  coord_free_string(node);
  size_t n = 0;
  OK(coord_queue_len(q, &n));
  CHECK(n == 2);
  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_queue_take(q, 1000, NULL, &data, &len));
  CHECK(len == 1 && data[0] == 'a');
  coord_free_bytes(data, len);
  bool taken = false;
  OK(coord_queue_try_take(q, &taken, &data, &len));
  CHECK(taken && len == 2);
  coord_free_bytes(data, len);
  OK(coord_queue_try_take(q, &taken, &data, &len));
  CHECK(!taken);
  EXPECT_RC(COORD_RESULT_OPERATION_TIMEOUT, coord_queue_take(q, 50, NULL, &data, &len));
  coord_queue_free(q);

  coord_counter *k = NULL;
  int64_t v = -1;
  bool swapped = false;
  OK(coord_counter_new(c, "/counter", &k));
  OK(coord_counter_get(k, &v));
  CHECK(v == 0);
  OK(coord_counter_add(k, 5, &v));
  CHECK(v == 5);
  OK(coord_counter_compare_and_set(k, 5, 9, &swapped));
  CHECK(swapped);
  OK(coord_counter_compare_and_set(k, 5, 1, &swapped));
  CHECK(!swapped);
  OK(coord_counter_set(k, -3));
  OK(coord_counter_get(k, &v));
  CHECK(v == -3);
  coord_counter_free(k);

  coord_discovery *d = NULL;
  OK(coord_discovery_new(c, NULL, &d));
  coord_kv md[1] = {{"zone", "eu"}};
  coord_instance i1 = {.id = "i1", .address = "10.0.0.1", .port = 80, .metadata = md,
                       .metadata_len = 1};
  coord_instance i2 = {.id = "i2", .address = "10.0.0.2", .port = 81};
  coord_registration *r1 = NULL, *r2 = NULL;
  OK(coord_discovery_register(d, "web", &i1, &r1));
  OK(coord_discovery_register(d, "web", &i2, &r2));
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_discovery_register(d, "web", NULL, &r2));
  coord_instance *list = NULL;
  OK(coord_discovery_list(d, "web", &list, &n));
  CHECK(n == 2 && strcmp(list[0].id, "i1") == 0 && list[0].port == 80);
  CHECK(list[0].metadata_len == 1 && strcmp(list[0].metadata[0].value, "eu") == 0);
  coord_free_instances(list, n);
  coord_provider *p = NULL;
  OK(coord_discovery_provider(d, "web", COORD_STRATEGY_ROUND_ROBIN, &p));
  coord_instance *picked = NULL;
  OK(coord_provider_pick(p, &picked));
  CHECK(picked != NULL);
  char first[16];
  snprintf(first, sizeof first, "%s", picked->id);
  coord_free_instances(picked, 1);
  OK(coord_provider_pick(p, &picked));
  CHECK(picked != NULL && strcmp(picked->id, first) != 0);
  coord_free_instances(picked, 1);
  OK(coord_registration_unregister(r2));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_registration_unregister(r2));
  OK(coord_discovery_list(d, "web", &list, &n));
  CHECK(n == 1);
  coord_free_instances(list, n);
  coord_provider_free(p);
  coord_registration_free(r1);
  coord_registration_free(r2);
  coord_discovery_free(d);
}

int main(void) {
  test_version();
  test_error_table();
  coord_client *c = NULL;
  OK(coord_connect(test_servers(), 5000, &c));
  uint64_t sid = 0;
  OK(coord_client_session_id(c, &sid));
  CHECK(sid != 0);
  test_bad_input(c);
  test_nodes(c);
  test_watches(c);
  test_watch_close_drops_ready_events(c);
  test_locks(c);
  test_lock_status_never_waits(c);
  test_lease_loss(c);
  test_election(c);
  test_client_close_ends_watches_normally();
  test_recipes(c);
  OK(coord_client_close(c));
  EXPECT_RC(COORD_RESULT_CLOSED, coord_sync(c, "/"));
  coord_client_free(c);
  printf("test_api: ok\n");
  return 0;
}
