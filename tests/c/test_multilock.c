/* Multi-lock (all or nothing, one global order) and cancellation of every
 * waiting call: a cancelled lock acquire, multi-lock acquire, election
 * campaign and group join return COORD_RESULT_CANCELLED and leave nothing
 * behind on the server (the waiting nodes are gone, read by another
 * session), also when the bound comes from coord_set_call_limits, which
 * bounds plain node operations too. Runs against the server in COORD_TEST_SERVERS. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

static coord_client *connect_one(void) {
  coord_client *c = NULL;
  OK(coord_connect(test_servers(), 5000, &c));
  return c;
}

/* Number of children of `path` (0 when it does not exist). */
static size_t children_of(coord_client *c, const char *path) {
  char **names = NULL;
  size_t n = 0;
  coord_result rc = coord_children(c, path, &names, &n);
  if (rc == COORD_RESULT_NO_NODE) return 0;
  OK(rc);
  coord_free_string_array(names, n);
  return n;
}

/* Waits (at most 5 s) until `path` has `want` children, else fails. */
static void expect_children(coord_client *c, const char *path, size_t want) {
  size_t n = 0;
  for (int i = 0; i < 100; i++) {
    n = children_of(c, path);
    if (n == want) return;
    sleep_ms(50);
  }
  fprintf(stderr, "%s has %zu children, wanted %zu\n", path, n, want);
  exit(1);
}

/* A canceller: waits (at most 5 s) until `path` has `waiting` children
 * read through `reader` (the waiter is in line), records it in `saw`, then
 * cancels `token`. */
typedef struct {
  coord_cancel_token *token;
  coord_client *reader;
  const char *path;
  size_t waiting;
  int saw;
} cancel_arg;

static void *cancel_later(void *arg) {
  cancel_arg *a = arg;
  a->saw = 0;
  for (int i = 0; i < 100 && !a->saw; i++) {
    a->saw = children_of(a->reader, a->path) == a->waiting;
    if (!a->saw) sleep_ms(50);
  }
  sleep_ms(100);
  coord_cancel_token_cancel(a->token);
  return NULL;
}

/* Starts a thread that cancels `arg->token` once the waiter is in line. */
static pthread_t cancel_in(cancel_arg *arg) {
  pthread_t th;
  CHECK(pthread_create(&th, NULL, cancel_later, arg) == 0);
  return th;
}

static void test_multi_lock_basics(coord_client *a, coord_client *b) {
  const char *paths[] = {"/t-ml/b", "/t-ml/a", "/t-ml/b"};
  coord_multi_lock *m = NULL;
  size_t n = 0;
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_multi_lock_new(a, paths, 0, &m));
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_multi_lock_new(a, NULL, 2, &m));
  const char *bad[] = {"/t-ml/a", "/\xff\xfe"};
  EXPECT_RC(COORD_RESULT_INVALID_PATH, coord_multi_lock_new(a, bad, 2, &m));
  CHECK(strstr(coord_last_error_message(), "paths[1]") != NULL);
  OK(coord_multi_lock_new(a, paths, 3, &m));
  OK(coord_multi_lock_len(m, &n));
  CHECK(n == 2);
  char **order = NULL;
  OK(coord_multi_lock_paths(m, &order, &n));
  CHECK(n == 2 && strcmp(order[0], "/t-ml/a") == 0 && strcmp(order[1], "/t-ml/b") == 0);
  coord_free_string_array(order, n);

  uint64_t tokens[2] = {0, 0};
  uint64_t small[1];
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_multi_lock_acquire(m, 1000, NULL, small, 1));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_multi_lock_release(m));
  OK(coord_multi_lock_acquire(m, 5000, NULL, tokens, 2));
  CHECK(tokens[0] > 0 && tokens[1] > 0 && tokens[0] != tokens[1]);
  bool held = false;
  OK(coord_multi_lock_is_held(m, &held));
  CHECK(held);
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_multi_lock_acquire(m, 1000, NULL, NULL, 0));
  /* The members are plain locks: a single lock on one of them waits. */
  coord_lock *la = NULL;
  OK(coord_lock_new(b, "/t-ml/a", &la));
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_lock_acquire(la, 200, NULL, NULL));
  OK(coord_multi_lock_release(m));
  OK(coord_multi_lock_is_held(m, &held));
  CHECK(!held);
  OK(coord_lock_acquire(la, 5000, NULL, NULL));

  /* All or nothing: b holds /t-ml/a, so a's multi-lock times out and
   * releases /t-ml/b, which b can then take at once. */
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_multi_lock_acquire(m, 300, NULL, tokens, 2));
  OK(coord_multi_lock_is_held(m, &held));
  CHECK(!held);
  expect_children(b, "/t-ml/b", 0);
  coord_lock *lb = NULL;
  bool got = false;
  OK(coord_lock_new(b, "/t-ml/b", &lb));
  OK(coord_lock_try_acquire(lb, &got, NULL));
  CHECK(got);
  OK(coord_lock_release(lb));
  coord_lock_free(lb);
  OK(coord_lock_release(la));
  coord_lock_free(la);
  coord_multi_lock_free(m);
  coord_multi_lock_free(NULL);
}

/* Two threads take {x, y} and {y, x} over and over: one global order, so
 * neither ever waits on the other forever. */
typedef struct {
  const char *first, *second;
  atomic_int *done;
} order_arg;

static void *take_both(void *p) {
  order_arg *a = p;
  coord_client *c = connect_one();
  const char *paths[] = {a->first, a->second};
  coord_multi_lock *m = NULL;
  OK(coord_multi_lock_new(c, paths, 2, &m));
  for (int i = 0; i < 5; i++) {
    OK(coord_multi_lock_acquire(m, 10000, NULL, NULL, 0));
    OK(coord_multi_lock_release(m));
    atomic_fetch_add(a->done, 1);
  }
  coord_multi_lock_free(m);
  coord_client_free(c);
  return NULL;
}

static void test_multi_lock_no_deadlock(void) {
  atomic_int done = 0;
  order_arg x = {"/t-ml/x", "/t-ml/y", &done}, y = {"/t-ml/y", "/t-ml/x", &done};
  pthread_t t1, t2;
  CHECK(pthread_create(&t1, NULL, take_both, &x) == 0);
  CHECK(pthread_create(&t2, NULL, take_both, &y) == 0);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  CHECK(atomic_load(&done) == 10);
}

static void test_cancel_leaves_nothing(coord_client *a, coord_client *b) {
  coord_cancel_token *ct = NULL;
  OK(coord_cancel_token_new(&ct));
  cancel_arg arg = {ct, b, "/t-cancel/lock", 2, 0};

  /* lock: b holds it, a waits and is cancelled; only b's node is left */
  coord_lock *held = NULL, *waiter = NULL;
  OK(coord_lock_new(b, "/t-cancel/lock", &held));
  OK(coord_lock_acquire(held, 5000, NULL, NULL));
  OK(coord_lock_new(a, "/t-cancel/lock", &waiter));
  pthread_t th = cancel_in(&arg);
  EXPECT_RC(COORD_RESULT_CANCELLED, coord_lock_acquire(waiter, -1, ct, NULL));
  pthread_join(th, NULL);
  CHECK(arg.saw); /* a was waiting in line when cancelled */
  expect_children(b, "/t-cancel/lock", 1);
  OK(coord_cancel_token_reset(ct));

  /* multi-lock: a takes /t-cancel/m1 then waits for /t-cancel/m2 (held by
   * b); cancelled, it releases m1 and leaves no node in m2's line */
  coord_lock *m2 = NULL;
  OK(coord_lock_new(b, "/t-cancel/m2", &m2));
  OK(coord_lock_acquire(m2, 5000, NULL, NULL));
  const char *paths[] = {"/t-cancel/m1", "/t-cancel/m2"};
  coord_multi_lock *m = NULL;
  OK(coord_multi_lock_new(a, paths, 2, &m));
  arg.path = "/t-cancel/m2";
  th = cancel_in(&arg);
  EXPECT_RC(COORD_RESULT_CANCELLED, coord_multi_lock_acquire(m, -1, ct, NULL, 0));
  pthread_join(th, NULL);
  CHECK(arg.saw);
  bool is_held = true;
  OK(coord_multi_lock_is_held(m, &is_held));
  CHECK(!is_held);
  expect_children(b, "/t-cancel/m1", 0);
  expect_children(b, "/t-cancel/m2", 1);
  OK(coord_cancel_token_reset(ct));

  /* election: b leads, a campaigns and is cancelled; only b's node left */
  coord_election *leader = NULL, *candidate = NULL;
  OK(coord_election_new(b, "/t-cancel/election", (const uint8_t *)"b", 1, &leader));
  OK(coord_election_campaign(leader, 5000, NULL, NULL));
  OK(coord_election_new(a, "/t-cancel/election", (const uint8_t *)"a", 1, &candidate));
  arg.path = "/t-cancel/election";
  th = cancel_in(&arg);
  EXPECT_RC(COORD_RESULT_CANCELLED, coord_election_campaign(candidate, -1, ct, NULL));
  pthread_join(th, NULL);
  CHECK(arg.saw);
  expect_children(b, "/t-cancel/election", 1);
  bool leads = true;
  OK(coord_election_is_leader(candidate, &leads));
  CHECK(!leads);

  /* a cancelled token cancels a join before it starts: no member node */
  OK(coord_cancel_token_cancel(ct));
  coord_membership *mem = NULL;
  EXPECT_RC(COORD_RESULT_CANCELLED,
            coord_group_join(a, "/t-cancel/group", "a", NULL, 0, -1, ct, &mem));
  CHECK(mem == NULL);
  expect_children(b, "/t-cancel/group", 0);

  coord_election_free(candidate);
  coord_election_free(leader);
  coord_multi_lock_free(m);
  coord_lock_free(m2);
  coord_lock_free(waiter);
  coord_lock_free(held);
  coord_cancel_token_free(ct);
}

/* coord_set_call_limits bounds every blocking call of the thread, node
 * operations included, and the library's own clean-up ignores it. */
static void test_call_limits(coord_client *a, coord_client *b) {
  coord_cancel_token *ct = NULL;
  OK(coord_cancel_token_new(&ct));
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_set_call_limits(-2, NULL));
  CHECK(strstr(coord_last_error_message(), "timeout_ms") != NULL);

  /* a cancelled token stops a plain create before it is sent */
  OK(coord_cancel_token_cancel(ct));
  OK(coord_set_call_limits(-1, ct));
  EXPECT_RC(COORD_RESULT_CANCELLED,
            coord_create(a, "/t-limits", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  OK(coord_set_call_limits(-1, NULL));
  bool exists = true;
  OK(coord_exists(b, "/t-limits", &exists, NULL));
  CHECK(!exists);
  OK(coord_cancel_token_reset(ct));

  /* a thread timeout ends a lock acquire that would wait forever */
  coord_lock *held = NULL, *waiter = NULL;
  OK(coord_lock_new(b, "/t-limits/lock", &held));
  OK(coord_lock_acquire(held, 5000, NULL, NULL));
  OK(coord_lock_new(a, "/t-limits/lock", &waiter));
  OK(coord_set_call_limits(300, NULL));
  double t0 = now_s();
  EXPECT_RC(COORD_RESULT_OPERATION_TIMEOUT, coord_lock_acquire(waiter, -1, NULL, NULL));
  CHECK(now_s() - t0 < 5.0);
  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_get(a, "/t-limits/lock", &data, &len, NULL)); /* quick calls still pass */
  coord_free_bytes(data, len);
  OK(coord_set_call_limits(-1, NULL));
  expect_children(b, "/t-limits/lock", 1);

  /* the thread's token cancels a multi-lock acquire from another thread;
   * the release of what it took still happens (clean-up ignores limits) */
  coord_lock *m2 = NULL;
  OK(coord_lock_new(b, "/t-limits/m2", &m2));
  OK(coord_lock_acquire(m2, 5000, NULL, NULL));
  const char *paths[] = {"/t-limits/m1", "/t-limits/m2"};
  coord_multi_lock *m = NULL;
  OK(coord_multi_lock_new(a, paths, 2, &m));
  cancel_arg arg = {ct, b, "/t-limits/m2", 2, 0};
  OK(coord_set_call_limits(-1, ct));
  pthread_t th = cancel_in(&arg);
  EXPECT_RC(COORD_RESULT_CANCELLED, coord_multi_lock_acquire(m, -1, NULL, NULL, 0));
  pthread_join(th, NULL);
  CHECK(arg.saw);
  OK(coord_set_call_limits(-1, NULL));
  expect_children(b, "/t-limits/m1", 0);
  expect_children(b, "/t-limits/m2", 1);

  coord_multi_lock_free(m);
  coord_lock_free(m2);
  coord_lock_free(waiter);
  coord_lock_free(held);
  coord_cancel_token_free(ct);
}

int main(void) {
  coord_client *a = connect_one(), *b = connect_one();
  test_multi_lock_basics(a, b);
  test_multi_lock_no_deadlock();
  test_cancel_leaves_nothing(a, b);
  test_call_limits(a, b);
  coord_client_free(a);
  coord_client_free(b);
  printf("test_multilock: ok\n");
  return 0;
}
