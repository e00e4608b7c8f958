#!/usr/bin/env bash
# Start a minimal real OpenStack (Zed, Debian 12 packages) on 127.0.0.1 for the integration
# tests, seeded like CANFAR's arbutus-canfar, and write what the tests need to find it.
#
#   keystone :5000  glance :9292  placement :8778  neutron :9696 (ml2 'test' driver)
#   nova :8774 (api, conductor, scheduler, compute with fake.FakeDriver)
#   MariaDB :3306 (own datadir)  RabbitMQ :5672 (+ epmd :4369, dist :25672)
#
# Usage: scripts/openstack/install.sh && scripts/openstack/start.sh   (as root)
#        ... tests ...
#        scripts/openstack/stop.sh
#
# Every daemon runs directly (no init system), in its own process group, with its PID (and
# start time) in $RUN/pid; stop.sh stops exactly those. State, logs and configs live in
# $RUN (default: .services/openstack in the repository, or $CANFAR_TUI_OPENSTACK_RUN).
# Passwords are generated per run into $RUN/secrets (0700/0600) and never appear in argv.
#
# Outputs, for the tests and for people:
#   $RUN/env          KEY=value lines (source it with `set -a; . FILE; set +a`):
#                     CANFAR_TUI_OPENSTACK_CLOUD, CANFAR_TUI_OPENSTACK_CLOUDS_YAML,
#                     CANFAR_TUI_OPENSTACK_PASSWORD_FILE, CANFAR_TUI_OPENSTACK_OPENRC,
#                     CANFAR_TUI_OPENSTACK_AUTH_URL, CANFAR_TUI_OPENSTACK_USERNAME
#   $RUN/clouds.yaml  cloud "canfar-local": the user, project canfar-batch-demo, no password
#   $RUN/canfar-batch-demo-openrc.sh  an Arbutus-style openrc (asks for the password)
#   $RUN/secrets/user-password        the user's password for this run
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN=${CANFAR_TUI_OPENSTACK_RUN:-$REPO/.services/openstack}
PY=${PY:-$REPO/.venv/bin/python}
[ -x "$PY" ] || PY=python3
CLOUD_NAME=canfar-local
DEMO_USER=canfar-demo
DEMO_PROJECT=canfar-batch-demo
AUTH_URL=http://127.0.0.1:5000/v3
PORTS=(3306 4369 5672 25672 5000 9292 8778 9696 8774)

T0=$(date +%s%N)
lap() { awk -v now="$(date +%s%N)" -v t0="$T0" -v msg="$*" \
          'BEGIN { printf "[%6.1fs] %s\n", (now - t0) / 1e9, msg }'; }
die() { echo "start.sh: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    die "run as root (MariaDB and RabbitMQ run from their system packages)"
fi
for tool in keystone-manage nova-api neutron-server glance-api placement-api mariadbd \
            /usr/lib/rabbitmq/bin/rabbitmq-server epmd curl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/openstack/install.sh"
done
"$PY" -c 'import openstack' 2>/dev/null || die "$PY cannot import openstack (openstacksdk)"

alive() {  # alive NAME: the recorded process is still the one we started
    local file=$RUN/pid/$1.pid pid start
    [ -f "$file" ] || return 1
    read -r pid start < "$file"
    [ -r "/proc/$pid/stat" ] || return 1
    [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$start" ]
}

DAEMONS=(mariadb epmd rabbitmq keystone glance placement neutron nova-api nova-conductor
         nova-scheduler nova-compute)
if [ -f "$RUN/env" ]; then
    running=1
    for name in "${DAEMONS[@]}"; do alive "$name" || running=0; done
    if [ "$running" -eq 1 ] && curl -sf -o /dev/null "$AUTH_URL"; then
        echo "start.sh: already running; environment in $RUN/env"
        exit 0
    fi
fi
"$HERE/stop.sh" >/dev/null 2>&1 || true

# A failed start stops what it started (the logs stay in $RUN/log).
ready=0
cleanup() { [ "$ready" -eq 1 ] || "$HERE/stop.sh" >&2 || true; }
trap cleanup EXIT

busy=()
for port in "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port"); fi
done
[ "${#busy[@]}" -eq 0 ] || die "ports already in use on 127.0.0.1: ${busy[*]} (another OpenStack, MariaDB or RabbitMQ?)"

umask 077
mkdir -p "$RUN"/{conf/placement,log/rabbitmq,pid,secrets} \
         "$RUN"/state/{images,glance-staging,glance-tasks,lock,nova/instances,neutron,rabbitmq/mnesia}
chmod 700 "$RUN" "$RUN/secrets"
rm -f "$RUN"/log/*.log "$RUN"/log/*.out

newsecret() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 > "$RUN/secrets/$1"; }
for name in admin-password service-password db-password user-password; do newsecret "$name"; done
DB_PASSWORD=$(<"$RUN/secrets/db-password")
SERVICE_PASSWORD=$(<"$RUN/secrets/service-password")
DB=mysql+pymysql://os:$DB_PASSWORD@127.0.0.1:3306
RABBIT_URL=rabbit://guest:guest@127.0.0.1:5672/

render() {  # render TEMPLATE OUTPUT: substitute with bash itself (no secret in any argv)
    local text
    text=$(<"$HERE/templates/$1")
    text=${text//@RUN@/$RUN}
    text=${text//@DB@/$DB}
    text=${text//@SERVICE_PASSWORD@/$SERVICE_PASSWORD}
    text=${text//@RABBIT_URL@/$RABBIT_URL}
    printf '%s\n' "$text" > "$2"
}
render keystone.conf "$RUN/conf/keystone.conf"
render glance-api.conf "$RUN/conf/glance-api.conf"
render placement.conf "$RUN/conf/placement/placement.conf"
render neutron.conf "$RUN/conf/neutron.conf"
render ml2_conf.ini "$RUN/conf/ml2_conf.ini"
render nova.conf "$RUN/conf/nova.conf"
render rabbitmq-env.conf "$RUN/conf/rabbitmq-env.conf"
render rabbitmq.conf "$RUN/conf/rabbitmq.conf"
echo '[].' > "$RUN/conf/rabbitmq-enabled-plugins"

launch() {  # launch NAME COMMAND...: own process group, PID and start time recorded
    local name=$1; shift
    setsid "$@" > "$RUN/log/$name.out" 2>&1 < /dev/null &
    local pid=$!
    local start=""
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        start=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null || true)
        [ -n "$start" ] && break
        sleep 0.05
    done
    echo "$pid $start" > "$RUN/pid/$name.pid"
}
waitfor() {  # waitfor WHAT TEST...: poll until TEST succeeds, at most ~120 s
    local what=$1; shift
    for _ in $(seq 480); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    die "timed out waiting for $what (logs in $RUN/log)"
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_up() { curl -s -o /dev/null --max-time 2 "$1"; }

# --------------------------------------------------------------------------- MariaDB
SQL=(mariadb --no-defaults --protocol=socket --socket="$RUN/mysqld.sock" -uroot)
if [ ! -d "$RUN/state/mysql/mysql" ]; then
    mariadb-install-db --no-defaults --user=root --datadir="$RUN/state/mysql" \
        --auth-root-authentication-method=socket --skip-test-db > "$RUN/log/mariadb-install.log" 2>&1
fi
launch mariadb mariadbd --no-defaults --user=root --datadir="$RUN/state/mysql" \
    --socket="$RUN/mysqld.sock" --pid-file="$RUN/state/mysqld.pid" \
    --bind-address=127.0.0.1 --port=3306 --skip-name-resolve --skip-log-bin \
    --log-error="$RUN/log/mariadb.log" --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_general_ci --max-connections=400 --performance-schema=OFF \
    --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0
# --------------------------------------------------------------------------- RabbitMQ
launch epmd epmd -address 127.0.0.1 -port 4369
waitfor epmd tcp_open 4369
HOME=$RUN/state/rabbitmq RABBITMQ_CONF_ENV_FILE=$RUN/conf/rabbitmq-env.conf \
    ERL_EPMD_ADDRESS=127.0.0.1 launch rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server

waitfor MariaDB "${SQL[@]}" -e 'SELECT 1'
"${SQL[@]}" <<SQL
DROP DATABASE IF EXISTS keystone; DROP DATABASE IF EXISTS glance;
DROP DATABASE IF EXISTS placement; DROP DATABASE IF EXISTS nova_api;
DROP DATABASE IF EXISTS nova; DROP DATABASE IF EXISTS nova_cell0; DROP DATABASE IF EXISTS neutron;
CREATE DATABASE keystone; CREATE DATABASE glance; CREATE DATABASE placement;
CREATE DATABASE nova_api; CREATE DATABASE nova; CREATE DATABASE nova_cell0; CREATE DATABASE neutron;
CREATE OR REPLACE USER 'os'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'os'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
lap "MariaDB up"

# --------------------------------------------------------------------------- schemas
C=$RUN/conf
( glance-manage --config-file "$C/glance-api.conf" db_sync ) > "$RUN/log/glance-db.log" 2>&1 & P_GLANCE=$!
( placement-manage --config-file "$C/placement/placement.conf" db sync ) > "$RUN/log/placement-db.log" 2>&1 & P_PLACEMENT=$!
( neutron-db-manage --config-file "$C/neutron.conf" --config-file "$C/ml2_conf.ini" upgrade heads ) \
    > "$RUN/log/neutron-db.log" 2>&1 & P_NEUTRON=$!
( set -e; NC=(--config-file "$C/nova.conf")
  nova-manage "${NC[@]}" api_db sync
  nova-manage "${NC[@]}" cell_v2 map_cell0 --database_connection "$DB/nova_cell0"
  nova-manage "${NC[@]}" cell_v2 create_cell --name=cell1
  nova-manage "${NC[@]}" db sync ) > "$RUN/log/nova-db.log" 2>&1 & P_NOVA=$!

# --------------------------------------------------------------------------- keystone
rm -rf "$RUN/state/fernet-keys" "$RUN/state/credential-keys"
KM=(keystone-manage --config-file "$C/keystone.conf")
{ "${KM[@]}" db_sync
  "${KM[@]}" fernet_setup --keystone-user root --keystone-group root
  "${KM[@]}" credential_setup --keystone-user root --keystone-group root
  OS_BOOTSTRAP_PASSWORD=$(<"$RUN/secrets/admin-password") "${KM[@]}" bootstrap \
      --bootstrap-admin-url "$AUTH_URL/" --bootstrap-internal-url "$AUTH_URL/" \
      --bootstrap-public-url "$AUTH_URL/" --bootstrap-region-id RegionOne
} > "$RUN/log/keystone-setup.log" 2>&1 || die "keystone setup failed (see $RUN/log/keystone-setup.log)"
OS_KEYSTONE_CONFIG_FILES=$C/keystone.conf launch keystone \
    keystone-wsgi-public --host 127.0.0.1 --port 5000
waitfor keystone http_up "$AUTH_URL/"
lap "keystone up"

export CANFAR_OS_SECRETS=$RUN/secrets CANFAR_OS_USER=$DEMO_USER
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH}
"$PY" "$HERE/seed.py" register > "$RUN/log/seed-register.log" 2>&1 \
    || die "registering the catalog failed (see $RUN/log/seed-register.log)"
lap "catalog registered"

for job in GLANCE PLACEMENT NEUTRON NOVA; do
    pid_var=P_$job
    wait "${!pid_var}" || die "the ${job,,} schema sync failed (see $RUN/log/${job,,}-db.log)"
done
lap "schemas ready"

# --------------------------------------------------------------------------- services
waitfor RabbitMQ tcp_open 5672
launch glance glance-api --config-file "$C/glance-api.conf"
OS_PLACEMENT_CONFIG_DIR=$C/placement launch placement placement-api --host 127.0.0.1 --port 8778
PYTHONOPTIMIZE=1 launch neutron neutron-server --config-file "$C/neutron.conf" \
    --config-file "$C/ml2_conf.ini"
for service in api conductor scheduler compute; do
    launch "nova-$service" "nova-$service" --config-file "$C/nova.conf"
done
waitfor glance http_up http://127.0.0.1:9292/
waitfor placement http_up http://127.0.0.1:8778/
waitfor neutron http_up http://127.0.0.1:9696/
waitfor nova-api http_up http://127.0.0.1:8774/
lap "APIs answering"

# Seed while nova-compute registers itself with placement and the cell.
"$PY" "$HERE/seed.py" wait-compute > "$RUN/log/seed-compute.log" 2>&1 & P_COMPUTE=$!
"$PY" "$HERE/seed.py" canfar > "$RUN/log/seed-canfar.log" 2>&1 \
    || die "seeding failed (see $RUN/log/seed-canfar.log)"
lap "seeded like CANFAR"
wait "$P_COMPUTE" \
    || die "nova-compute did not come up (see $RUN/log/seed-compute.log and nova.log)"
host_mapped() { [ "$("${SQL[@]}" -N -e 'SELECT COUNT(*) FROM nova_api.host_mappings')" -ge 1 ]; }
waitfor "the compute host mapping" host_mapped
lap "compute host ready"

# --------------------------------------------------------------------------- outputs
cat > "$RUN/clouds.yaml" <<EOF
# The canfar-tui integration tests' cloud (started by scripts/openstack/start.sh).
# No password here: it is in secrets/user-password for this run only.
clouds:
  $CLOUD_NAME:
    auth:
      auth_url: $AUTH_URL
      username: $DEMO_USER
      project_name: $DEMO_PROJECT
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
# Horizon's file names the project by ID too (canfar_submit 0.3 checks OS_PROJECT_ID).
DEMO_PROJECT_ID=$("${SQL[@]}" -N -e "SELECT id FROM keystone.project WHERE name='$DEMO_PROJECT'" \
    2>/dev/null || true)
[ -n "$DEMO_PROJECT_ID" ] || die "no project $DEMO_PROJECT in keystone's database"
cat > "$RUN/$DEMO_PROJECT-openrc.sh" <<EOF
#!/usr/bin/env bash
# An openrc file like the one Horizon gives on arbutus-canfar (Project > API Access).
export OS_AUTH_URL=$AUTH_URL
export OS_PROJECT_ID=$DEMO_PROJECT_ID
export OS_PROJECT_NAME="$DEMO_PROJECT"
export OS_USER_DOMAIN_NAME="Default"
if [ -z "\$OS_USER_DOMAIN_NAME" ]; then unset OS_USER_DOMAIN_NAME; fi
export OS_PROJECT_DOMAIN_NAME="Default"
# unset v2.0 items in case set
unset OS_TENANT_ID
unset OS_TENANT_NAME
export OS_USERNAME="$DEMO_USER"
echo "Please enter your OpenStack Password for project \$OS_PROJECT_NAME as user \$OS_USERNAME: "
read -sr OS_PASSWORD_INPUT
export OS_PASSWORD=\$OS_PASSWORD_INPUT
export OS_REGION_NAME="RegionOne"
if [ -z "\$OS_REGION_NAME" ]; then unset OS_REGION_NAME; fi
export OS_INTERFACE=public
export OS_IDENTITY_API_VERSION=3
EOF
{
    printf 'CANFAR_TUI_OPENSTACK_CLOUD=%q\n' "$CLOUD_NAME"
    printf 'CANFAR_TUI_OPENSTACK_CLOUDS_YAML=%q\n' "$RUN/clouds.yaml"
    printf 'CANFAR_TUI_OPENSTACK_PASSWORD_FILE=%q\n' "$RUN/secrets/user-password"
    printf 'CANFAR_TUI_OPENSTACK_OPENRC=%q\n' "$RUN/$DEMO_PROJECT-openrc.sh"
    printf 'CANFAR_TUI_OPENSTACK_AUTH_URL=%q\n' "$AUTH_URL"
    printf 'CANFAR_TUI_OPENSTACK_USERNAME=%q\n' "$DEMO_USER"
} > "$RUN/env.tmp"
mv "$RUN/env.tmp" "$RUN/env"
ready=1

# Memory of everything started here: PSS (shared pages split among their users) and RSS.
groups=()
for name in "${DAEMONS[@]}"; do read -r pid _ < "$RUN/pid/$name.pid"; groups+=("$pid"); done
pss_kb=0; rss_kb=0
for pid in $(ps -e -o pid=,pgid= | awk -v list="${groups[*]}" \
        'BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) g[a[i]] = 1 } ($2 in g) { print $1 }'); do
    read -r pss rss < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' \
        "/proc/$pid/smaps_rollup" 2>/dev/null || echo "0 0")
    pss_kb=$(( pss_kb + pss )); rss_kb=$(( rss_kb + rss ))
done
lap "READY: $(( pss_kb / 1024 )) MB PSS ($(( rss_kb / 1024 )) MB RSS); environment in $RUN/env"
