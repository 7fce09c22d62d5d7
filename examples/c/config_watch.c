/* A watch on a configuration node.
 *
 *   cc config_watch.c $(pkg-config --cflags --libs coord) -o config_watch
 *   ./config_watch [servers]
 *
 * Creates /examples/config = "v1", watches it with a persistent watch, and
 * changes it twice from the main thread. The callback (on the library's
 * callback thread) re-reads the node on every change and stops waiting once
 * it has seen "v3". */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "coord.h"

static coord_client *client;
static atomic_int seen_final;

static void on_change(void *userdata, const coord_watch_event *event) {
  (void)userdata;
  if (event->result != COORD_RESULT_OK) {
    fprintf(stderr, "watch ended: %s\n", coord_result_message(event->result));
    return;
  }
  uint8_t *data = NULL;
  size_t len = 0;
  if (coord_get(client, event->path, &data, &len, NULL) == COORD_RESULT_OK) {
    printf("config changed (zxid %llu): %.*s\n", (unsigned long long)event->zxid, (int)len,
           (const char *)data);
    if (len == 2 && memcmp(data, "v3", 2) == 0) atomic_store(&seen_final, 1);
    coord_free_bytes(data, len);
  }
}

int main(int argc, char **argv) {
  coord_result rc = coord_connect(argc > 1 ? argv[1] : NULL, 5000, &client);
  if (rc != COORD_RESULT_OK) {
    fprintf(stderr, "connect: %s (%s)\n", coord_result_message(rc), coord_last_error_message());
    return 1;
  }
  coord_create(client, "/examples", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL);
  rc = coord_create(client, "/examples/config", (const uint8_t *)"v1", 2,
                    COORD_CREATE_PERSISTENT, 0, NULL, NULL);
  if (rc == COORD_RESULT_NODE_EXISTS)
    rc = coord_set(client, "/examples/config", (const uint8_t *)"v1", 2, -1, NULL);
  coord_watch *watch = NULL;
  if (rc == COORD_RESULT_OK)
    rc = coord_watch_add(client, "/examples/config", COORD_WATCH_PERSISTENT, on_change, NULL,
                         &watch);
  if (rc == COORD_RESULT_OK)
    rc = coord_set(client, "/examples/config", (const uint8_t *)"v2", 2, -1, NULL);
  if (rc == COORD_RESULT_OK)
    rc = coord_set(client, "/examples/config", (const uint8_t *)"v3", 2, -1, NULL);
  for (int i = 0; i < 500 && rc == COORD_RESULT_OK && !atomic_load(&seen_final); i++) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
  int ok = rc == COORD_RESULT_OK && atomic_load(&seen_final);
  if (!ok) fprintf(stderr, "did not see v3: %s\n", coord_result_message(rc));
  coord_watch_free(watch); /* after this the callback never runs again */
  coord_client_free(client);
  return ok ? 0 : 1;
}
