/* A distributed lock around a critical section.
 *
 *   cc lock.c $(pkg-config --cflags --libs coord) -o lock
 *   ./lock [servers]            (default: $COORD_SERVERS or 127.0.0.1:2281)
 *
 * Takes the lock at /examples/lock, increments a counter node inside the
 * critical section (guarded: the write commits only while we still hold
 * the lock), and releases. Run several at once: the count stays exact. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"

static int fail(const char *what, coord_result rc) {
  fprintf(stderr, "%s: %s (%s)\n", what, coord_result_message(rc), coord_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  const char *servers = argc > 1 ? argv[1] : NULL;
  coord_client *client = NULL;
  coord_lock *lock = NULL;
  coord_result rc = coord_connect(servers, 5000, &client);
  if (rc != COORD_RESULT_OK) return fail("connect", rc);
  rc = coord_create(client, "/examples", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL);
  if (rc != COORD_RESULT_OK && rc != COORD_RESULT_NODE_EXISTS) return fail("create", rc);
  if ((rc = coord_lock_new(client, "/examples/lock", &lock)) != COORD_RESULT_OK)
    return fail("lock_new", rc);

  int status = 0;
  for (int i = 0; i < 5 && status == 0; i++) {
    uint64_t token = 0;
    if ((rc = coord_lock_acquire(lock, 10000, NULL, &token)) != COORD_RESULT_OK) {
      status = fail("acquire", rc);
      break;
    }
    /* Critical section: read, increment, write back under the lock. */
    uint8_t *data = NULL;
    size_t len = 0;
    long count = 0;
    rc = coord_get(client, "/examples/count", &data, &len, NULL);
    if (rc == COORD_RESULT_OK) {
      char text[32] = {0};
      memcpy(text, data, len < sizeof text - 1 ? len : sizeof text - 1);
      count = strtol(text, NULL, 10);
      coord_free_bytes(data, len);
    } else if (rc != COORD_RESULT_NO_NODE) {
      status = fail("get", rc);
    }
    char next[32];
    snprintf(next, sizeof next, "%ld", count + 1);
    coord_op op = {
        .kind = rc == COORD_RESULT_NO_NODE ? COORD_OP_CREATE : COORD_OP_SET,
        .path = "/examples/count",
        .data = (const uint8_t *)next,
        .data_len = strlen(next),
        .mode = COORD_CREATE_PERSISTENT,
        .version = -1,
    };
    if (status == 0 && (rc = coord_lock_guarded(lock, &op, 1, NULL)) != COORD_RESULT_OK)
      status = fail("guarded write", rc);
    if (status == 0) printf("token %" PRIu64 ": count %s\n", token, next);
    if ((rc = coord_lock_release(lock)) != COORD_RESULT_OK) status = fail("release", rc);
  }
  coord_lock_free(lock);
  coord_client_free(client);
  return status;
}
