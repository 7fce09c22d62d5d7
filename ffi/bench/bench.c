/* libcoord benchmark: uncontended lock cycle (acquire + release) and get,
 * one caller thread, sequential. Prints "name ops mean_us" lines.
 *   bench SERVERS ITERATIONS */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "coord.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MUST(call)                                                                     \
  do {                                                                                 \
    coord_result rc_ = (call);                                                         \
    if (rc_ != COORD_RESULT_OK) {                                                      \
      fprintf(stderr, "%s: %s (%s)\n", #call, coord_result_message(rc_),              \
              coord_last_error_message());                                             \
      return 1;                                                                        \
    }                                                                                  \
  } while (0)

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long n = strtol(argv[2], NULL, 10);
  coord_client *c = NULL;
  coord_lock *lock = NULL;
  MUST(coord_connect(argv[1], 10000, &c));
  coord_create(c, "/bench-c", (const uint8_t *)"0123456789abcdef", 16, COORD_CREATE_PERSISTENT, 0,
               NULL, NULL);
  MUST(coord_lock_new(c, "/bench-c-lock", &lock));
  for (long i = 0; i < n / 10 + 1; i++) { /* warm up */
    MUST(coord_lock_acquire(lock, -1, NULL, NULL));
    MUST(coord_lock_release(lock));
  }
  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    MUST(coord_lock_acquire(lock, -1, NULL, NULL));
    MUST(coord_lock_release(lock));
  }
  double lock_s = now_s() - t0;
  uint8_t *data = NULL;
  size_t len = 0;
  t0 = now_s();
  for (long i = 0; i < n * 10; i++) {
    MUST(coord_get(c, "/bench-c", &data, &len, NULL));
    coord_free_bytes(data, len);
  }
  double get_s = now_s() - t0;
  printf("lock_cycle %ld %.1f\n", n, lock_s / (double)n * 1e6);
  printf("get %ld %.1f\n", n * 10, get_s / (double)(n * 10) * 1e6);
  coord_lock_free(lock);
  coord_client_free(c);
  return 0;
}
