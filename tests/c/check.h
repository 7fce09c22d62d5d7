/* Small test helpers for the libcoord C tests. */
#ifndef COORD_TEST_CHECK_H
#define COORD_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord.h"

/* Fails the test unless a libcoord call returned `want`. */
#define EXPECT_RC(want, call)                                                       \
  do {                                                                              \
    coord_result rc_ = (call);                                                      \
    if (rc_ != (coord_result)(want)) {                                              \
      fprintf(stderr, "%s:%d: %s returned %s (%u: %s; %s), wanted %s\n", __FILE__,  \
              __LINE__, #call, coord_result_name(rc_), (unsigned)rc_,               \
              coord_result_message(rc_), coord_last_error_message(),                \
              coord_result_name((uint32_t)(want)));                                 \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

#define OK(call) EXPECT_RC(COORD_RESULT_OK, call)

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
      exit(1);                                                                      \
    }                                                                               \
  } while (0)

/* The server the suite started (COORD_TEST_SERVERS). */
static inline const char *test_servers(void) {
  const char *s = getenv("COORD_TEST_SERVERS");
  if (s == NULL || *s == '\0') {
    fprintf(stderr, "COORD_TEST_SERVERS is not set\n");
    exit(2);
  }
  return s;
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#endif
