# bootchain x86 chain, step sed: the script the check runs, in place, on a
# copy of sed-check.txt. A regular expression with groups and back
# references, a line deleted by address, y, and a line appended.
s/\([A-Za-z]*\) \([0-9][0-9.]*\)/\2 (\1)/g
/deleted/d
/case of/y/abcdefghijklmnopqrstuvwxyz/ABCDEFGHIJKLMNOPQRSTUVWXYZ/
$a\
sed 4.1.5 was here.
