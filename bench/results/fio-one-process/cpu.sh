#!/bin/bash
# What twelve rate-limited fio readers cost in CPU: twelve fio processes (the lab before 695e102)
# against one fio process with twelve jobs (after). $1: a block device to read (a loop device
# over a file in /tmp was used: losetup -f --show --direct-io=on FILE). Prints user/sys CPU of each way.
L=$1
args=(--filename=$L --bs=4k --direct=1 --rw=randread --ioengine=psync --time_based --runtime=8)
one=()
for i in 0 1 2 3; do for r in 54 272 817; do one+=(--name=g${i}r$r "${args[@]}" --rate_iops=$r); done; done
/usr/bin/time -f "one process, twelve jobs: %U s user, %S s sys, %e s wall" fio "${one[@]}" --output-format=terse >/dev/null
/usr/bin/time -f "twelve processes: %U s user, %S s sys, %e s wall" bash -c '
for i in 0 1 2 3; do for r in 54 272 817; do fio --name=g${i}r$r "$@" --rate_iops=$r --output-format=terse >/dev/null & done; done; wait' _ "${args[@]}"
