/* libcoord C API: coord_connect_opts (TLS with a client certificate, a
 * refused wrong CA, bearer token, digest credentials, the versioned options
 * struct), coord_whoami, ACLs (create with an ACL, get, set, refusals),
 * quotas and coord_lock_info. Runs against the plain server in
 * COORD_TEST_SERVERS and the mTLS server in COORD_TEST_TLS_SERVERS, whose
 * CA, client certificate, second CA and tokens are in COORD_TEST_TLS_DIR
 * (tests/c/run.sh makes them). */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>

#include "check.h"

static const char *env(const char *name) {
  const char *s = getenv(name);
  if (s == NULL || *s == '\0') {
    fprintf(stderr, "%s is not set\n", name);
    exit(2);
  }
  return s;
}

static char *tls_file(const char *name) {
  static char buf[8][512];
  static int next = 0;
  char *b = buf[next++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", env("COORD_TEST_TLS_DIR"), name);
  return b;
}

static const char *find_entry(char **items, size_t n, const char *prefix) {
  for (size_t i = 0; i < n; i++) {
    if (strncmp(items[i], prefix, strlen(prefix)) == 0) return items[i];
  }
  return NULL;
}

static bool has_entry(char **items, size_t n, const char *prefix) {
  return find_entry(items, n, prefix) != NULL;
}

static void test_options_are_checked(void) {
  coord_client *c = NULL;
  struct coord_connect_options o = {.struct_size = 0};
  /* struct_size not set: refused, saying which field. */
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_connect_opts(&o, &c));
  CHECK(strstr(coord_last_error_message(), "struct_size") != NULL);
  CHECK(c == NULL);
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_connect_opts(NULL, &c));
  o.struct_size = sizeof o;
  o.servers = env("COORD_TEST_TLS_SERVERS");
  o.tls_ca_file = tls_file("ca.pem");
  o.tls_cert_file = tls_file("client.pem");
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_connect_opts(&o, &c));
  CHECK(strstr(coord_last_error_message(), "tls_key_file") != NULL);
  o.tls_key_file = tls_file("client-key.pem");
  o.tls_ca_file = tls_file("no-such-ca.pem");
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_connect_opts(&o, &c));
  CHECK(strstr(coord_last_error_message(), "no-such-ca.pem") != NULL);
  o.tls_ca_file = tls_file("ca.pem");
  o.digest = "no-colon";
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_connect_opts(&o, &c));
  CHECK(strstr(coord_last_error_message(), "digest") != NULL);
  CHECK(c == NULL);
}

static void test_tls_with_client_cert_token_and_digest(void) {
  struct coord_connect_options o = {.struct_size = sizeof o};
  o.servers = env("COORD_TEST_TLS_SERVERS");
  o.session_timeout_ms = 5000;
  o.tls_ca_file = tls_file("ca.pem");
  o.tls_cert_file = tls_file("client.pem");
  o.tls_key_file = tls_file("client-key.pem");
  o.token = "tok-alice";
  o.digest = "bob:secret";
  coord_client *c = NULL;
  OK(coord_connect_opts(&o, &c));
  char **ids = NULL;
  size_t n = 0;
  OK(coord_whoami(c, &ids, &n));
  for (size_t i = 0; i < n; i++) printf("tls session identity: %s\n", ids[i]);
  CHECK(has_entry(ids, n, "x509:"));
  CHECK(has_entry(ids, n, "token:alice"));
  CHECK(has_entry(ids, n, "digest:bob:"));
  coord_free_string_array(ids, n);
  OK(coord_create(c, "/tls-c", (const uint8_t *)"v", 1, COORD_CREATE_EPHEMERAL, 0, NULL, NULL));
  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_get(c, "/tls-c", &data, &len, NULL));
  CHECK(len == 1 && data[0] == 'v');
  coord_free_bytes(data, len);
  coord_client_free(c);
}

static void test_tls_refuses_a_server_signed_by_another_ca(void) {
  struct coord_connect_options o = {.struct_size = sizeof o};
  o.servers = env("COORD_TEST_TLS_SERVERS");
  o.connect_timeout_ms = 1000;
  o.tls_ca_file = tls_file("other/ca.pem");
  o.tls_cert_file = tls_file("client.pem");
  o.tls_key_file = tls_file("client-key.pem");
  coord_client *c = NULL;
  coord_result rc = coord_connect_opts(&o, &c);
  CHECK(rc != COORD_RESULT_OK && c == NULL);
  const char *why = coord_last_error_message();
  if (strstr(why, "not signed by the trusted CA") == NULL) {
    fprintf(stderr, "unexpected error: %s\n", why);
    exit(1);
  }
  /* Plain TCP to the TLS port is refused too. */
  struct coord_connect_options plain = {.struct_size = sizeof plain};
  plain.servers = o.servers;
  plain.connect_timeout_ms = 1000;
  CHECK(coord_connect_opts(&plain, &c) != COORD_RESULT_OK && c == NULL);
}

static void test_wrong_token_is_refused(void) {
  struct coord_connect_options o = {.struct_size = sizeof o};
  o.servers = env("COORD_TEST_TLS_SERVERS");
  o.connect_timeout_ms = 1000;
  o.tls_ca_file = tls_file("ca.pem");
  o.tls_cert_file = tls_file("client.pem");
  o.tls_key_file = tls_file("client-key.pem");
  o.token = "not-a-token";
  coord_client *c = NULL;
  EXPECT_RC(COORD_RESULT_AUTH_FAILED, coord_connect_opts(&o, &c));
  CHECK(c == NULL);
}

static void test_acls(void) {
  struct coord_connect_options o = {.struct_size = sizeof o};
  o.servers = test_servers();
  o.digest = "carol:pw";
  coord_client *owner = NULL, *other = NULL;
  OK(coord_connect_opts(&o, &owner));
  OK(coord_connect(test_servers(), 0, &other));
  const char *acl[] = {"auth::cdrwa", "world:anyone:r"};
  char *created = NULL;
  coord_stat st;
  OK(coord_create_acl(owner, "/acl-c", (const uint8_t *)"x", 1, COORD_CREATE_EPHEMERAL, 0, acl, 2,
                      &created, &st));
  CHECK(strcmp(created, "/acl-c") == 0);
  coord_free_string(created);
  char **got = NULL;
  size_t n = 0;
  int32_t aversion = -1;
  OK(coord_get_acl(other, "/acl-c", &got, &n, NULL, &aversion));
  CHECK(aversion == 0);
  CHECK(n == 2);
  const char *mine = find_entry(got, n, "digest:carol:");
  CHECK(mine != NULL && strcmp(mine + strlen(mine) - 6, ":cdrwa") == 0);
  CHECK(has_entry(got, n, "world:anyone:r"));
  coord_free_string_array(got, n);
  /* Others may read, not write nor change the ACL. */
  uint8_t *data = NULL;
  size_t len = 0;
  OK(coord_get(other, "/acl-c", &data, &len, NULL));
  coord_free_bytes(data, len);
  EXPECT_RC(COORD_RESULT_NO_AUTH, coord_set(other, "/acl-c", NULL, 0, -1, NULL));
  const char *open_acl[] = {"world:anyone:cdrwa"};
  EXPECT_RC(COORD_RESULT_NO_AUTH, coord_set_acl(other, "/acl-c", open_acl, 1, -1, NULL));
  /* The owner opens it; aversion is checked. */
  EXPECT_RC(COORD_RESULT_BAD_VERSION, coord_set_acl(owner, "/acl-c", open_acl, 1, 7, NULL));
  OK(coord_set_acl(owner, "/acl-c", open_acl, 1, aversion, NULL));
  OK(coord_get_acl(other, "/acl-c", &got, &n, NULL, &aversion));
  CHECK(n == 1 && strcmp(got[0], "world:anyone:cdrwa") == 0 && aversion == 1);
  coord_free_string_array(got, n);
  OK(coord_set(other, "/acl-c", NULL, 0, -1, NULL));
  /* A malformed entry is named. */
  const char *bad[] = {"world:anyone:r", "world:anyone:xyz"};
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_set_acl(owner, "/acl-c", bad, 2, -1, NULL));
  CHECK(strstr(coord_last_error_message(), "acl[1]") != NULL);
  EXPECT_RC(COORD_RESULT_NULL_PARAMETER, coord_set_acl(owner, "/acl-c", NULL, 1, -1, NULL));
  char **ids = NULL;
  OK(coord_whoami(other, &ids, &n));
  /* Without credentials a session is only its address. */
  CHECK(has_entry(ids, n, "ip:127.0.0.1") && !has_entry(ids, n, "digest:"));
  coord_free_string_array(ids, n);
  coord_client_free(other);
  coord_client_free(owner);
}

static void test_quotas(coord_client *c) {
  OK(coord_create(c, "/quota-c", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  coord_quota q;
  EXPECT_RC(COORD_RESULT_NO_NODE, coord_get_quota(c, "/quota-c", &q));
  EXPECT_RC(COORD_RESULT_BAD_ARGUMENTS, coord_set_quota(c, "/quota-c", -5, -1));
  CHECK(strstr(coord_last_error_message(), "max_nodes") != NULL);
  OK(coord_set_quota(c, "/quota-c", 2, -1));
  OK(coord_create(c, "/quota-c/a", (const uint8_t *)"abc", 3, COORD_CREATE_PERSISTENT, 0, NULL,
                  NULL));
  EXPECT_RC(COORD_RESULT_QUOTA_EXCEEDED,
            coord_create(c, "/quota-c/b", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  OK(coord_get_quota(c, "/quota-c", &q));
  CHECK(q.max_nodes == 2 && q.max_bytes == -1 && q.nodes == 2 && q.bytes == 3);
  OK(coord_clear_quota(c, "/quota-c"));
  OK(coord_create(c, "/quota-c/b", NULL, 0, COORD_CREATE_PERSISTENT, 0, NULL, NULL));
  EXPECT_RC(COORD_RESULT_NO_NODE, coord_get_quota(c, "/quota-c", &q));
  OK(coord_delete(c, "/quota-c/a", -1));
  OK(coord_delete(c, "/quota-c/b", -1));
  OK(coord_delete(c, "/quota-c", -1));
}

static void test_lock_info(coord_client *c) {
  coord_lock_line *line = NULL;
  EXPECT_RC(COORD_RESULT_NO_NODE, coord_lock_info(c, "/info-c/none", &line));
  CHECK(line == NULL);
  coord_lock *holder = NULL, *waiter = NULL;
  OK(coord_lock_new(c, "/info-c/m", &holder));
  OK(coord_lock_new(c, "/info-c/m", &waiter));
  uint64_t token = 0;
  OK(coord_lock_acquire(holder, 1000, NULL, &token));
  OK(coord_lock_info(c, "/info-c/m", &line));
  CHECK(strcmp(line->path, "/info-c/m") == 0);
  CHECK(line->holders_len == 1 && line->waiters_len == 0 && line->waiters == NULL);
  CHECK(line->holders[0].token == token);
  CHECK(line->holders[0].kind == COORD_LOCK_NODE_EXCLUSIVE);
  uint64_t session = 0;
  OK(coord_client_session_id(c, &session));
  CHECK(line->holders[0].session == session);
  CHECK(line->holders[0].since_ms > 0 && strlen(line->holders[0].owner) > 0);
  CHECK(strstr(line->holders[0].node, "__lock__") != NULL);
  coord_lock_line_free(line);
  /* A second handle of the same line times out and leaves no node. */
  EXPECT_RC(COORD_RESULT_LOCK_TIMEOUT, coord_lock_acquire(waiter, 50, NULL, NULL));
  OK(coord_lock_info(c, "/info-c/m", &line));
  CHECK(line->holders_len == 1 && line->waiters_len == 0);
  coord_lock_line_free(line);
  coord_rwlock *r1 = NULL, *r2 = NULL;
  OK(coord_rwlock_new(c, "/info-c/rw", &r1));
  OK(coord_rwlock_new(c, "/info-c/rw", &r2));
  OK(coord_rwlock_read_acquire(r1, 1000, NULL, NULL));
  OK(coord_rwlock_read_acquire(r2, 1000, NULL, NULL));
  OK(coord_lock_info(c, "/info-c/rw", &line));
  CHECK(line->holders_len == 2 && line->waiters_len == 0);
  CHECK(line->holders[0].kind == COORD_LOCK_NODE_SHARED &&
        line->holders[1].kind == COORD_LOCK_NODE_SHARED);
  coord_lock_line_free(line);
  OK(coord_rwlock_read_release(r1));
  OK(coord_rwlock_read_release(r2));
  coord_rwlock_free(r1);
  coord_rwlock_free(r2);
  OK(coord_lock_release(holder));
  coord_lock_line_free(NULL);
  coord_lock_free(holder);
  coord_lock_free(waiter);
}

static void test_lock_info_shows_waiters_in_line_order(coord_client *c) {
  coord_client *other = NULL;
  OK(coord_connect(test_servers(), 0, &other));
  coord_lock *holder = NULL;
  OK(coord_lock_new(c, "/info-c/line", &holder));
  OK(coord_lock_acquire(holder, 1000, NULL, NULL));
  /* A waiting node of another session, made the way a waiter makes it. */
  OK(coord_create(other, "/info-c/line/w1__lock__", NULL, 0, COORD_CREATE_EPHEMERAL_SEQUENTIAL, 0,
                  NULL, NULL));
  coord_lock_line *line = NULL;
  OK(coord_lock_info(c, "/info-c/line", &line));
  CHECK(line->holders_len == 1 && line->waiters_len == 1);
  CHECK(strcmp(line->waiters[0].owner, "w1") == 0);
  uint64_t other_session = 0;
  OK(coord_client_session_id(other, &other_session));
  CHECK(line->waiters[0].session == other_session);
  coord_lock_line_free(line);
  /* Released: the next in line is the holder now (asked while that node
   * exists: an empty lock directory is a container the server may
   * remove). */
  OK(coord_lock_release(holder));
  OK(coord_lock_info(c, "/info-c/line", &line));
  CHECK(line->holders_len == 1 && strcmp(line->holders[0].owner, "w1") == 0);
  CHECK(line->waiters_len == 0 && line->waiters == NULL);
  coord_lock_line_free(line);
  coord_client_free(other);
  coord_lock_free(holder);
}

int main(void) {
  test_options_are_checked();
  test_tls_with_client_cert_token_and_digest();
  test_tls_refuses_a_server_signed_by_another_ca();
  test_wrong_token_is_refused();
  test_acls();
  coord_client *c = NULL;
  OK(coord_connect(test_servers(), 0, &c));
  test_quotas(c);
  test_lock_info(c);
  test_lock_info_shows_waiters_in_line_order(c);
  coord_client_free(c);
  printf("test_security: ok\n");
  return 0;
}
