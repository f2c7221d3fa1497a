# bootchain x86 chain, step gcc-hello: the first GCC (step gcc) compiles
# gcc-hello.c with -O2, assembles and links it (tcc, through gcc's as and
# ld, bootchain's gcc-as.sh and gcc-ld.sh) against musl, and runs it; its
# output must be gcc-hello.txt, line for line. Run by the chain's bash.
set -e
export PATH=/usr/bin:/bin
mkdir -p /tmp /gcc-hello
cd /gcc-hello
gcc -O2 -o hello /gcc-hello.c
./hello > output.txt
if [ "$(cat output.txt)" != "$(cat /gcc-hello.txt)" ]; then
	echo "gcc-hello: the program's output is not gcc-hello.txt; it wrote:" >&2
	cat output.txt >&2
	exit 1
fi
cat output.txt
