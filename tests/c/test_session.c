/* Session state (now, and every change through a callback) and children
 * with stats. Runs against the server in COORD_TEST_SERVERS. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static coord_session_state states[16];
static int n_states;

static void on_state(void *userdata, coord_session_state state) {
  CHECK(userdata == (void *)&mu);
  pthread_mutex_lock(&mu);
  if (n_states < 16) states[n_states++] = state;
  pthread_mutex_unlock(&mu);
}

/* Waits (at most 5 s) until the callback saw `n` states. */
static void wait_states(int n) {
  for (int i = 0; i < 100; i++) {
    pthread_mutex_lock(&mu);
    int got = n_states;
    pthread_mutex_unlock(&mu);
    if (got >= n) return;
    sleep_ms(50);
  }
  fprintf(stderr, "saw %d session states, wanted %d\n", n_states, n);
  exit(1);
}

static void test_children_with_stats(coord_client *c) {
  OK(coord_create(c, "/t-cws", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  coord_child *kids = NULL;
  size_t n = 7;
  coord_stat st;
  OK(coord_children_with_stats(c, "/t-cws", &kids, &n, &st));
  CHECK(kids == NULL && n == 0 && st.num_children == 0);
  OK(coord_create(c, "/t-cws/b", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  OK(coord_create(c, "/t-cws/a", (const uint8_t *)"xyz", 3, COORD_CREATE_EPHEMERAL, 0, NULL, NULL));
  OK(coord_children_with_stats(c, "/t-cws", &kids, &n, &st));
  CHECK(n == 2 && st.num_children == 2);
  CHECK(strcmp(kids[0].name, "a") == 0 && kids[0].stat.data_length == 3 &&
        kids[0].stat.ephemeral_owner != 0);
  CHECK(strcmp(kids[1].name, "b") == 0 && kids[1].stat.data_length == 0 &&
        kids[1].stat.ephemeral_owner == 0);
  coord_free_children(kids, n);
  OK(coord_children_with_stats(c, "/t-cws/a", &kids, &n, NULL));
  CHECK(n == 0);
  EXPECT_RC(COORD_RESULT_NO_NODE, coord_children_with_stats(c, "/t-cws-none", &kids, &n, NULL));
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_children_with_stats(c, "/t-cws", NULL, &n, NULL));
  coord_free_children(NULL, 0);
}

int main(void) {
  coord_client *c = NULL;
  OK(coord_connect(test_servers(), 5000, &c));
  coord_session_state s = 99;
  OK(coord_client_state(c, &s));
  CHECK(s == COORD_SESSION_CONNECTED);
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_client_on_state(c, NULL, NULL, NULL));

  coord_watch *w = NULL;
  OK(coord_client_on_state(c, on_state, &mu, &w));
  wait_states(1);
  CHECK(states[0] == COORD_SESSION_CONNECTED);

  test_children_with_stats(c);

  /* closing the client: the state turns CLOSED and the callback says so */
  OK(coord_client_close(c));
  OK(coord_client_state(c, &s));
  CHECK(s == COORD_SESSION_CLOSED);
  wait_states(2);
  pthread_mutex_lock(&mu);
  CHECK(states[n_states - 1] == COORD_SESSION_CLOSED);
  pthread_mutex_unlock(&mu);
  coord_watch_free(w);
  coord_client_free(c);
  printf("test_session: ok\n");
  return 0;
}
