/* Group membership (join with payload, members, watch, update, leave, lost
 * callback) and the node and tree caches (current value, change callback,
 * no callback after free). Runs against the server in COORD_TEST_SERVERS. */
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

/* What the members callback saw last. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen[256];
static atomic_int member_calls;

static void on_members(void *userdata, coord_result result, const coord_member *m, size_t n) {
  (void)userdata;
  CHECK(result == COORD_RESULT_OK);
  pthread_mutex_lock(&seen_mu);
  seen[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    char one[64];
    snprintf(one, sizeof one, "%s=%.*s;", m[i].name, (int)m[i].payload_len, (const char *)m[i].payload);
    strncat(seen, one, sizeof seen - strlen(seen) - 1);
  }
  pthread_mutex_unlock(&seen_mu);
  atomic_fetch_add(&member_calls, 1);
}

/* Waits (at most 5 s) until the members callback saw `want`. */
static void expect_seen(const char *want) {
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&seen_mu);
    int same = strcmp(seen, want) == 0;
    pthread_mutex_unlock(&seen_mu);
    if (same) return;
    sleep_ms(50);
  }
  fprintf(stderr, "members callback saw '%s', wanted '%s'\n", seen, want);
  exit(1);
}

static atomic_int lost_calls;
static void on_lost(void *userdata) {
  (void)userdata;
  atomic_fetch_add(&lost_calls, 1);
}

static void test_group(coord_client *a, coord_client *b) {
  coord_membership *alice = NULL, *bob = NULL, *dup = NULL;
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS,
            coord_group_join(a, "/t-group", "a/b", NULL, 0, -1, NULL, &alice));
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS,
            coord_group_join(a, "/t-group", "a", NULL, 0, -5, NULL, &alice));
  OK(coord_group_join(a, "/t-group", "alice", (const uint8_t *)"p1", 2, 5000, NULL, &alice));
  OK(coord_group_join(b, "/t-group", "bob", (const uint8_t *)"p2", 2, -1, NULL, &bob));
  EXPECT_RC(COORD_RESULT_NODE_EXISTS,
            coord_group_join(b, "/t-group", "alice", NULL, 0, -1, NULL, &dup));
  CHECK(dup == NULL);

  coord_member *members = NULL;
  size_t n = 0;
  OK(coord_group_members(b, "/t-group", &members, &n));
  CHECK(n == 2);
  CHECK(strcmp(members[0].name, "alice") == 0 && members[0].payload_len == 2 &&
        memcmp(members[0].payload, "p1", 2) == 0);
  CHECK(strcmp(members[1].name, "bob") == 0 && memcmp(members[1].payload, "p2", 2) == 0);
  coord_free_members(members, n);
  OK(coord_group_members(b, "/t-group-none", &members, &n));
  CHECK(n == 0 && members == NULL);

  coord_watch *w = NULL;
  OK(coord_group_watch(b, "/t-group", on_members, NULL, &w));
  expect_seen("alice=p1;bob=p2;");
  OK(coord_membership_update(alice, (const uint8_t *)"p1b", 3));
  expect_seen("alice=p1b;bob=p2;");
  bool lost = true;
  OK(coord_membership_is_lost(alice, &lost));
  CHECK(!lost);
  OK(coord_membership_leave(alice));
  expect_seen("bob=p2;");
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_membership_leave(alice));
  EXPECT_RC(COORD_RESULT_NOT_HELD, coord_membership_update(alice, NULL, 0));
  OK(coord_membership_is_lost(alice, &lost));
  CHECK(lost);

  /* bob's node deleted by someone else: the lost callback runs once */
  OK(coord_membership_on_lost(bob, on_lost, NULL));
  OK(coord_delete(a, "/t-group/bob", -1));
  for (int i = 0; i < 100 && atomic_load(&lost_calls) == 0; i++) sleep_ms(50);
  CHECK(atomic_load(&lost_calls) == 1);
  OK(coord_membership_is_lost(bob, &lost));
  CHECK(lost);
  expect_seen("");
  coord_watch_free(w);
  coord_membership_free(alice);
  coord_membership_free(bob);
  coord_membership_free(NULL);
}

static atomic_int node_calls, tree_calls;
static void on_node(void *userdata, coord_result result) {
  (void)userdata;
  CHECK(result == COORD_RESULT_OK);
  atomic_fetch_add(&node_calls, 1);
}
static void on_tree(void *userdata, coord_result result) {
  (void)userdata;
  CHECK(result == COORD_RESULT_OK);
  atomic_fetch_add(&tree_calls, 1);
}

/* Waits (at most 5 s) until the node cache holds `want` (NULL: absent). */
static void expect_node(coord_node_cache *cache, const char *want) {
  for (int i = 0; i < 100; i++) {
    bool exists = false;
    uint8_t *data = NULL;
    size_t len = 0;
    coord_stat st;
    OK(coord_node_cache_get(cache, &exists, &data, &len, &st));
    int same = want == NULL ? !exists
                            : exists && len == strlen(want) && memcmp(data, want, len) == 0 &&
                                  st.data_length == len;
    coord_free_bytes(data, len);
    if (same) return;
    sleep_ms(50);
  }
  fprintf(stderr, "node cache never held %s\n", want ? want : "(absent)");
  exit(1);
}

static void test_node_cache(coord_client *a, coord_client *b) {
  coord_node_cache *cache = NULL;
  OK(coord_create(b, "/t-cache", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  EXPECT_RC(COORD_RESULT_INVALID_PATH, coord_node_cache_start(a, "bad", NULL, NULL, &cache));
  OK(coord_node_cache_start(a, "/t-cache/node", on_node, NULL, &cache));
  expect_node(cache, NULL);
  OK(coord_create(b, "/t-cache/node", (const uint8_t *)"v1", 2, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  expect_node(cache, "v1");
  OK(coord_set(b, "/t-cache/node", (const uint8_t *)"v2", 2, -1, NULL));
  expect_node(cache, "v2");
  for (int i = 0; i < 100 && atomic_load(&node_calls) < 2; i++) sleep_ms(50);
  CHECK(atomic_load(&node_calls) >= 2);
  OK(coord_delete(b, "/t-cache/node", -1));
  expect_node(cache, NULL);
  coord_node_cache_free(cache);
  /* no callback after free */
  int calls = atomic_load(&node_calls);
  OK(coord_create(b, "/t-cache/node", (const uint8_t *)"v3", 2, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  sleep_ms(300);
  CHECK(atomic_load(&node_calls) == calls);
  coord_node_cache_free(NULL);
}

static void test_tree_cache(coord_client *a, coord_client *b) {
  coord_tree_cache *cache = NULL;
  OK(coord_tree_cache_start(a, "/t-cache/tree", on_tree, NULL, &cache));
  size_t n = 99;
  OK(coord_tree_cache_len(cache, &n));
  CHECK(n == 0);
  OK(coord_create(b, "/t-cache/tree", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  OK(coord_create(b, "/t-cache/tree/y", (const uint8_t *)"2", 1, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  OK(coord_create(b, "/t-cache/tree/x", (const uint8_t *)"1", 1, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  for (int i = 0; i < 100 && n != 3; i++) {
    sleep_ms(50);
    OK(coord_tree_cache_len(cache, &n));
  }
  CHECK(n == 3);
  char **names = NULL;
  OK(coord_tree_cache_children(cache, "/t-cache/tree", &names, &n));
  CHECK(n == 2 && strcmp(names[0], "x") == 0 && strcmp(names[1], "y") == 0);
  coord_free_string_array(names, n);
  OK(coord_set(b, "/t-cache/tree/y", (const uint8_t *)"3", 1, -1, NULL));
  bool exists = false;
  uint8_t *data = NULL;
  size_t len = 0;
  for (int i = 0; i < 100; i++) {
    OK(coord_tree_cache_get(cache, "/t-cache/tree/y", &exists, &data, &len, NULL));
    int done = exists && len == 1 && data[0] == '3';
    coord_free_bytes(data, len);
    if (done) break;
    sleep_ms(50);
  }
  CHECK(exists && len == 1);
  OK(coord_tree_cache_get(cache, "/t-cache/tree/none", &exists, &data, &len, NULL));
  CHECK(!exists && data == NULL && len == 0);
  CHECK(atomic_load(&tree_calls) >= 1);
  coord_tree_cache_free(cache);
  int calls = atomic_load(&tree_calls);
  OK(coord_delete(b, "/t-cache/tree/x", -1));
  sleep_ms(300);
  CHECK(atomic_load(&tree_calls) == calls);
  coord_tree_cache_free(NULL);
}

int main(void) {
  coord_client *a = connect_one(), *b = connect_one();
  test_group(a, b);
  test_node_cache(a, b);
  test_tree_cache(a, b);
  coord_client_free(a);
  coord_client_free(b);
  printf("test_group_cache: ok\n");
  return 0;
}
