/* 8 threads x 200 lock-protected increments of a counter stored in coord:
 * the result is exact and the fencing tokens strictly increase from holder
 * to holder (each holder checks the token stored by the previous one). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>

#include "check.h"

#define THREADS 8
#define ROUNDS 200
#define NODE "/threads/counter"

static coord_client *client;

static void *worker(void *arg) {
  (void)arg;
  coord_lock *lock = NULL; /* one handle per thread: the handle is the owner */
  OK(coord_lock_new(client, "/threads/lock", &lock));
  for (int i = 0; i < ROUNDS; i++) {
    uint64_t token = 0;
    OK(coord_lock_acquire(lock, 60000, NULL, &token));
    uint8_t *data = NULL;
    size_t len = 0;
    coord_stat st;
    OK(coord_get(client, NODE, &data, &len, &st));
    char text[64] = {0};
    CHECK(len < sizeof text);
    memcpy(text, data, len);
    coord_free_bytes(data, len);
    long long count = 0;
    unsigned long long last = 0;
    CHECK(sscanf(text, "%lld %llu", &count, &last) == 2);
    CHECK(token > last); /* strictly increasing from holder to holder */
    snprintf(text, sizeof text, "%lld %" PRIu64, count + 1, token);
    /* version check: nobody else wrote while we held the lock */
    OK(coord_set(client, NODE, (const uint8_t *)text, strlen(text), st.version, NULL));
    OK(coord_lock_release(lock));
  }
  coord_lock_free(lock);
  return NULL;
}

int main(void) {
  OK(coord_connect(test_servers(), 10000, &client));
  OK(coord_create(client, "/threads", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  OK(coord_create(client, NODE, (const uint8_t *)"0 0", 3, COORD_CREATE_PERSISTENT, 0, NULL,
                  NULL));
  pthread_t th[THREADS];
  double t0 = now_s();
  for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&th[i], NULL, worker, NULL) == 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_get(client, NODE, &data, &len, NULL));
  char text[64] = {0};
  memcpy(text, data, len < 63 ? len : 63);
  coord_free_bytes(data, len);
  long long count = 0;
  CHECK(sscanf(text, "%lld", &count) == 1);
  CHECK(count == THREADS * ROUNDS);
  coord_client_free(client);
  printf("test_lock_threads: %d increments, exact, tokens increasing (%.1f s)\n",
         THREADS * ROUNDS, now_s() - t0);
  return 0;
}
