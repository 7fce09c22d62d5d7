# Starting Debian's ZooKeeper 3.8 for the ZooKeeper-client scripts of this
# directory (sourced by cli.sh and capture.sh, not run): a standalone server
# on a free loopback port with its own data dir, TTL nodes enabled and
# containers checked every second, so that its behaviour can be compared
# with coord's ZooKeeper port. Expects a `log` function.

# zk_free_port: a free TCP port on 127.0.0.1.
zk_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# zk_ruok PORT: true when the server on PORT answers imok.
zk_ruok() {
  local reply
  reply=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && cat <&3' _ "$1" 2>/dev/null)
  [ "$reply" = imok ]
}

# zk_start DIR: starts ZooKeeper with its data and log under DIR; sets
# ZK_PORT and ZK_PID; fails (with the log's tail) if it does not answer
# ruok within 30 s.
zk_start() {
  local dir="$1" i
  mkdir -p "$dir/data"
  ZK_PORT=$(zk_free_port)
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=60
admin.enableServer=false
4lw.commands.whitelist=*
CFG
  timeout 600 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dzookeeper.extendedTypesEnabled=true -Dznode.container.checkIntervalMs=1000 \
    -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
  ZK_PID=$!
  for ((i = 0; i < 120; i++)); do
    if zk_ruok "$ZK_PORT"; then
      log "ZooKeeper up on 127.0.0.1:$ZK_PORT"
      return 0
    fi
    kill -0 "$ZK_PID" 2>/dev/null || break
    sleep 0.25
  done
  log "ZooKeeper did not answer ruok on 127.0.0.1:$ZK_PORT"
  tail -20 "$dir/server.log" >&2
  return 1
}
