# Shared by the canfar_submit stand-ins of the test pool (sourced, not run): where the pool is,
# the log of image transfers/shares, and condor_submit inside the pool's chroot as the test user.
#
# scripts/condor/start.sh copies the stand-ins to $RUN/canfar_submit/{current,0.3}/canfar_submit
# and this file to $RUN/canfar_submit/replica.sh, and writes $RUN/canfar_submit/replica.env:
#   REPLICA_ROOT   the chroot ($RUN/root)
#   REPLICA_JOBS   the job folder, mounted at the same path inside the chroot
#   REPLICA_USER   the test user: the jobs' owner
#   REPLICA_LOG    the log of image transfers (current form) and shares (0.3 form)
#   REPLICA_SHARED the file (inside the chroot) listing the VMTypes the startd accepts
# The host has no condor_submit: the pool's own runs in the chroot (`chroot --userspec`), which
# needs root, like start.sh. The submit directory is the caller's working directory, so it must
# be inside the job folder (visible at the same path in the chroot); relative paths of the job
# file (executable, output, log) mean what they mean to condor_submit there.

REPLICA_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$REPLICA_HOME/replica.env" || { echo "canfar_submit: no $REPLICA_HOME/replica.env (run scripts/condor/start.sh)" >&2; exit 1; }

# replica_log WORDS…: one line in the log the tests read (never a secret in it).
replica_log() {
    local line
    line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
    ( flock 8; printf '%s\n' "$line" >&8 ) 8>> "$REPLICA_LOG"
}

# replica_inside PATH: PATH is visible at the same path inside the chroot (the job folder).
replica_inside() {
    case "$(readlink -f "$1")/" in
        "$REPLICA_JOBS"/*) return 0 ;;
        *) return 1 ;;
    esac
}


# replica_condor_submit JDL [ARGS…]: the pool's condor_submit on JDL (a path inside the
# chroot), from the caller's working directory, as the test user; its output and status.
replica_condor_submit() {
    local jdl=$1
    shift
    if [ "$(id -u)" -ne 0 ]; then
        echo "condor_submit (replica): run as root: the pool's condor_submit runs in its chroot as $REPLICA_USER" >&2
        return 1
    fi
    if ! replica_inside "$PWD"; then
        echo "condor_submit (replica): the submit directory $PWD is not visible to the pool; work under $REPLICA_JOBS" >&2
        return 1
    fi
    chroot --userspec="$REPLICA_USER:$REPLICA_USER" "$REPLICA_ROOT" \
        env -i HOME="/home/$REPLICA_USER" USER="$REPLICA_USER" LOGNAME="$REPLICA_USER" \
            PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        sh -c 'cd "$1" && shift && exec condor_submit "$@"' sh "$PWD" "$jdl" "$@"
}

# replica_write_jdl NAME: stdin into the chroot's /tmp/NAME, readable by the test user.
replica_write_jdl() {
    local target=$REPLICA_ROOT/tmp/$1
    cat > "$target" && chmod 0644 "$target"
}
