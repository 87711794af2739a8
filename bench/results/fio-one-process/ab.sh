#!/bin/bash
# A/B on the device-bound testbed (rtvirtio lab testbed up --regime device-bound: /dev/loop0): the 12
# tasks of g4-LMH under rtvirtio's caps of contended24-pertask run 3 (vm2 891 as 54/272/565, vm3 35 as
# 11/12/12), 10 s, twelve fio processes (each moved into its cgroup by a shell, as the lab did) against
# one fio process with a job per task (cgroup=), alternating, 4 repeats. Prints the urgent guests'
# 817-IOPS readers' IOPS. Cgroups under rtvirtio-lab/ab-PID, removed at the end.
L=/dev/loop0; R=rtvirtio-lab/ab-$$; B=/sys/fs/cgroup/blkio/$R
rates=(54 272 817); caps2=(54 272 565); caps3=(11 12 12)
for g in 0 1 2 3; do for t in 0 1 2; do mkdir -p $B/g$g/t$t; done; done
for t in 0 1 2; do echo "7:0 ${caps2[$t]}" > $B/g2/t$t/blkio.throttle.read_iops_device; echo "7:0 ${caps3[$t]}" > $B/g3/t$t/blkio.throttle.read_iops_device; done
common=(--filename=$L --bs=4k --direct=1 --rw=randread --ioengine=psync --time_based --runtime=10)
for rep in 1 2 3 4; do for mode in sep one; do
  rm -f /tmp/fiot/ab-*.json
  if [ $mode = sep ]; then
    for g in 0 1 2 3; do for t in 0 1 2; do sh -c 'echo $$ > "$1" && shift && exec fio "$@"' sh $B/g$g/t$t/cgroup.procs --name=g${g}t$t "${common[@]}" --rate_iops=${rates[$t]} --output-format=json --output=/tmp/fiot/ab-g${g}t$t.json & done; done; wait
    res=$(for f in /tmp/fiot/ab-g[01]t2.json; do python3 -c "import json;j=json.load(open('$f'))['jobs'][0];print(round(j['read']['iops']))"; done | tr '\n' ' ')
  else
    args=(); for g in 0 1 2 3; do for t in 0 1 2; do args+=(--name=g${g}t$t --cgroup=$R/g$g/t$t --cgroup_nodelete=1 --rate_iops=${rates[$t]}); done; done
    fio "${common[@]}" "${args[@]}" --output-format=json --output=/tmp/fiot/ab-one.json
    res=$(python3 -c "
import json
print(' '.join(str(round(j['read']['iops'])) for j in json.load(open('/tmp/fiot/ab-one.json'))['jobs'] if j['jobname'] in ('g0t2','g1t2')))")
  fi
  echo "rep $rep $mode: vm0/h2 vm1/h2 IOPS (ask 817, pass >= 776): $res"
done; done
for g in 0 1 2 3; do for t in 0 1 2; do rmdir $B/g$g/t$t; done; rmdir $B/g$g; done; rmdir $B
