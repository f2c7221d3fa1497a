# bootchain x86 chain, step sed: the makefile that builds GNU sed 4.1.5
# with TinyCC against Mes's C library, written for bootchain because
# live-bootstrap's (sysa/sed-4.0.9/mk/main.mk, for sed 4.0.9, which cannot
# be had) does not fit 4.1.5: 4.1.5 adds sed/mbcs.c, its regex needs
# stdbool.h, mbstate_t (Mes's C library has none: an int stands in, as
# only pointers to it are passed around without a multibyte locale) and
# strcasecmp (sed-strcasecmp.c). The structure, flags and install path
# follow live-bootstrap's: a libsed.a of lib/, then sed/sed, with an empty
# config.h. There is no shell: every command is one make runs itself.

CC = tcc
AR = tcc -ar

CPPFLAGS = -DENABLE_NLS=0 \
	-DHAVE_FCNTL_H \
	-DHAVE_ALLOCA_H \
	-DHAVE_STDBOOL_H \
	-DHAVE_STRING_H \
	-DHAVE_STDLIB_H \
	-DHAVE_UNISTD_H \
	-DSTDC_HEADERS \
	-Dmbstate_t=int \
	-DSED_FEATURE_VERSION=\"4.1\" \
	-DVERSION=\"4.1.5\" \
	-DPACKAGE=\"sed\"
CFLAGS = -I . -I lib
LDFLAGS = -L . -lsed -static

LIB_SRC = getline getopt1 getopt utils regex obstack strverscmp mkstemp strcasecmp
LIB_OBJ = $(addprefix lib/, $(addsuffix .o, $(LIB_SRC)))

SED_SRC = compile execute regexp fmt mbcs sed
SED_OBJ = $(addprefix sed/, $(addsuffix .o, $(SED_SRC)))

sed/sed: libsed.a $(SED_OBJ)
	$(CC) $^ $(LDFLAGS) -o $@

lib/regex.h: lib/regex_.h
	cp $< $@

lib/regex.o: lib/regex.h

libsed.a: $(LIB_OBJ)
	$(AR) cr $@ $^
