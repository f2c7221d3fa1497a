%{
/*
 * bootchain x86 chain, step heirloom-devtools: the check's grammar. A
 * calculator for lines of integer arithmetic (+ - * / % unary minus and
 * parentheses, the usual precedence); heirloom yacc turns it into
 * y.tab.c with /yaccpar, and yacc-lex-check.l is the scanner lex makes.
 * Run as: calc INPUT OUTPUT; each input line's value goes to OUTPUT.
 */
#include <stdio.h>
#include <stdlib.h>

extern FILE *yyin;
int yylex();
static FILE *out;
static int line = 1;

void yyerror(char *s)
{
	fprintf(stderr, "calc: line %d: %s\n", line, s);
	exit(1);
}
%}

%token NUMBER
%left '+' '-'
%left '*' '/' '%'
%right UMINUS

%%

lines	:	/* empty */
	|	lines expr '\n'	{ fprintf(out, "%d: %d\n", line, $2); line = line + 1; }
	|	lines '\n'	{ line = line + 1; }
	;

expr	:	expr '+' expr	{ $$ = $1 + $3; }
	|	expr '-' expr	{ $$ = $1 - $3; }
	|	expr '*' expr	{ $$ = $1 * $3; }
	|	expr '/' expr	{ if ($3 == 0) yyerror("division by zero"); $$ = $1 / $3; }
	|	expr '%' expr	{ if ($3 == 0) yyerror("division by zero"); $$ = $1 % $3; }
	|	'-' expr %prec UMINUS	{ $$ = - $2; }
	|	'(' expr ')'	{ $$ = $2; }
	|	NUMBER
	;

%%

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: calc INPUT OUTPUT\n", stderr);
		return 2;
	}
	yyin = fopen(argv[1], "r");
	if (yyin == NULL) {
		fputs("calc: cannot open the input\n", stderr);
		return 1;
	}
	out = fopen(argv[2], "w");
	if (out == NULL) {
		fputs("calc: cannot create the output\n", stderr);
		return 1;
	}
	if (yyparse() != 0) {
		return 1;
	}
	if (fclose(out) != 0) {
		return 1;
	}
	return 0;
}
