/* The template language, feature by feature, against renderings by Python's jinja2 (the table
 * below), plus error messages, limits, built-in templates and the fuzz regression inputs. */
#include "owl/chat.h"
#include "test.h"

#include <dirent.h>

typedef struct lang_case {
    const char *src;
    int ctx;
    bool ok;
    const char *expected;
} lang_case;

/* Generated from Python jinja2 3.1 renderings (trim_blocks, lstrip_blocks, transformers' tojson). */
static const char *const LANG_CONTEXTS[] = {
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi there\"}, {\"role\": \"assistant\", \"content\": \"Hello!\"}, {\"role\": \"user\", \"content\": \"  Bye \\n\"}], \"d\": {\"b\": 2, \"a\": 1, \"items\": 3}, \"l\": [3, 1, 2], \"s\": \"Hello World\", \"n\": null, \"f\": 1.5, \"i\": 7, \"e\": \"\", \"u\": \"h\\u00e9llo w\\u00f6rld \\u00df\", \"nest\": {\"x\": [1, {\"y\": \"z\"}]}}",
    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"l\": [1, 2], \"x\": \"X\"}",
    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tree\": [{\"n\": \"a\", \"c\": [{\"n\": \"b\", \"c\": []}, {\"n\": \"c\", \"c\": [{\"n\": \"d\", \"c\": []}]}]}], \"l\": [1, 2, 3]}",
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be /think brief.\"}, {\"role\": \"user\", \"content\": \"Q1\"}, {\"role\": \"assistant\", \"content\": \"<think>r</think> A1\", \"tool_calls\": [{\"id\": \"c1\", \"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}]}, {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"R\"}, {\"role\": \"user\", \"content\": \"Q2\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": \"Does f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\", \"description\": \"an x\", \"default\": 3, \"maximum\": 9}, \"y\": {\"type\": [\"string\", \"null\"], \"enum\": [\"a\", \"b\"]}, \"z\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"w\": {\"oneOf\": [{\"type\": \"string\", \"format\": \"date\"}, {\"type\": \"number\"}]}}, \"required\": [\"x\"]}}}]}",
    "{}",
    "{\"f\": 2.5}",
};

static const lang_case LANG_CASES[] = {
    {"{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1.0 }} {{ 1e-5 }} {{ 1e16 }} {{ 123456789.123 }} {{ 0.1 + 0.2 }}", 0, true, "3 3 -4 1 2 3.5 1024 0.5 1.0 1e-05 1e+16 123456789.123 0.30000000000000004"},
    {"{{ 'a' ~ 1 ~ none ~ true }} {{ [1, 'a', none, true, 1.5] }} {{ (1, 2) }} {{ (1,) }} {{ {'a': [1, {'b': none}]} }} {{ \"it's\" }} {{ ['it\\'s', \"q\\\"\"] }}", 0, true, "a1NoneTrue [1, 'a', None, True, 1.5] (1, 2) (1,) {'a': [1, {'b': None}]} it's [\"it's\", 'q\"']"},
    {"{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}|{% endfor %}", 0, true, "1/0/4/3/True/False/4|2/1/3/2/False/False/4|3/2/2/1/False/False/4|4/3/1/0/False/True/4|"},
    {"{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}", 0, true, "1:user,2:assistant,3:user"},
    {"{% for x in [] %}a{% else %}empty{% endfor %}", 0, true, "empty"},
    {"{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}", 0, true, "3"},
    {"{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 5) }} {{ d.keys()|list }} {{ d.values()|list }} {{ d['items'] }}", 0, true, "1 None 5 ['b', 'a', 'items'] [2, 1, 3] 3"},
    {"{% set ns = namespace(c=0) %}{% for m in messages %}{% set ns.c = ns.c + 1 %}{% endfor %}{{ ns.c }}", 0, true, "4"},
    {"{% set x = 1 %}{% for i in l %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", 0, true, "4231"},
    {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '\?') }} {{ greet(punct='.', name='c') }}", 0, true, "Hi a! Hi b\? Hi c."},
    {"{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}", 0, true, "54321"},
    {"{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner{% endcall %}", 0, true, "<inner>"},
    {"{% filter upper %}hello {{ s }}{% endfilter %}", 0, true, "HELLO HELLO WORLD"},
    {"{% set blk %}  block {{ i }}  {% endset %}[{{ blk }}]{% set b2 | trim %}  x  {% endset %}[{{ b2 }}]", 0, true, "[  block 7  ][x]"},
    {"{{ s[::-1] }} {{ s[1:4] }} {{ s[-3:] }} {{ s[:-3] }} {{ l[::2] }} {{ l[-1] }} {{ s[100:] }} {{ u[1:5] }} {{ u[::-1] }}", 0, true, "dlroW olleH ell rld Hello Wo [3, 2] 2  \303\251llo \303\237 dlr\303\266w oll\303\251h"},
    {"{{ s.upper() }} {{ s.lower() }} {{ s.title() }} {{ 'hello world'.capitalize() }} {{ u.upper() }} {{ s.swapcase() }}", 0, true, "HELLO WORLD hello world Hello World Hello world H\303\211LLO W\303\226RLD SS hELLO wORLD"},
    {"{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '\\n\\na\\n'.lstrip('\\n') }}|{{ 'a\\n\\n'.rstrip() }}|", 0, true, "x|hi|a\n|a|"},
    {"{{ 'a,b,,c'.split(',') }} {{ ' a  b c '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ 'a b  c '.split(None, 1) }}", 0, true, "['a', 'b', '', 'c'] ['a', 'b', 'c'] ['a', 'b,c'] ['a b', 'c'] ['a', 'b  c ']"},
    {"{{ s.startswith('Hell') }} {{ s.endswith('x') }} {{ s.startswith(('x', 'H')) }} {{ s.find('o') }} {{ s.rfind('o') }} {{ s.count('l') }} {{ s.replace('l', 'L') }} {{ s.replace('l', 'L', 1) }}", 0, true, "True False True 4 7 3 HeLLo WorLd HeLlo World"},
    {"{{ '{} and {}'.format(1, 'b') }} {{ '{0}{1}{0}'.format('x', 'y') }} {{ '{a}'.format(a=3) }}", 0, true, "1 and b xyx 3"},
    {"{{ s|length }} {{ u|length }} {{ l|length }} {{ d|length }} {{ l|count }} {{ missing|length }}", 0, true, "11 13 3 3 3 0"},
    {"{{ missing|default('dflt') }} {{ n|default('dflt') }} {{ e|default('dflt', true) }} {{ missing|d('x') }}", 0, true, "dflt None dflt x"},
    {"{{ l|join(', ') }} {{ l|join }} {{ messages|map(attribute='role')|join('/') }} {{ l|first }} {{ l|last }} {{ s|first }} {{ s|last }}", 0, true, "3, 1, 2 312 system/user/assistant/user 3 2 H d"},
    {"{{ '  pad  '|trim }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello WORLD'|capitalize }}|{{ 'hello-world foo(bar)'|title }}|{{ u|title }}", 0, true, "pad|HELLO WORLD|hello world|Hello world|Hello-World Foo(Bar)|H\303\251llo W\303\266rld SS"},
    {"{{ d|items|list }} {{ d|dictsort }} {{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b','A','a','B']|sort }} {{ ['b','A','a','B']|unique|list }} {{ l|reverse|list }} {{ s|reverse }}", 0, true, "[('b', 2), ('a', 1), ('items', 3)] [('a', 1), ('b', 2), ('items', 3)] [1, 2, 3] [3, 2, 1] ['A', 'a', 'b', 'B'] ['b', 'A'] [2, 1, 3] dlroW olleH"},
    {"{{ messages|selectattr('role', 'equalto', 'user')|list|length }} {{ messages|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }} {{ l|select('odd')|list }} {{ l|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }}", 0, true, "2 ['system', 'assistant'] [3, 1] [2] [1, 'a']"},
    {"{{ '3'|int + 1 }} {{ 'x'|int }} {{ '3.7'|float }} {{ 3.7|int }} {{ -3|abs }} {{ 3.14159|round(2) }} {{ 2.5|round }} {{ 3|float }} {{ 'abc'|int(5) }} {{ 1.5|string }}", 0, true, "4 0 3.7 3 3 3.14 2.0 3.0 5 1.5"},
    {"{{ d|tojson }}|{{ l|tojson }}|{{ nest|tojson(indent=2) }}|{{ '\303\251\"\\n'|tojson }}|{{ d|tojson(sort_keys=true) }}|{{ {}|tojson }}|{{ []|tojson(indent=4) }}|{{ 1.0|tojson }}|{{ none|tojson }}", 0, true, "{\"b\": 2, \"a\": 1, \"items\": 3}|[3, 1, 2]|{\n  \"x\": [\n    1,\n    {\n      \"y\": \"z\"\n    }\n  ]\n}|\"\303\251\\\"\\n\"|{\"a\": 1, \"b\": 2, \"items\": 3}|{}|[]|1.0|null"},
    {"{{ 'a\\nb\\nc'|indent(2) }}|{{ 'a\\n\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}", 0, true, "a\n  b\n  c|  a\n\n  b|a\n  \n  b"},
    {"{{ s|replace('o', '0') }} {{ s|wordcount }} {{ '<a href=\"x\">&'|e }} {{ l|sum }} {{ l|min }} {{ l|max }} {{ 'x'|center(5) }}|", 0, true, "Hell0 W0rld 2 &lt;a href=&#34;x&#34;&gt;&amp; 6 1 3   x  |"},
    {"{{ x is defined }} {{ missing is undefined }} {{ n is none }} {{ s is string }} {{ i is number }} {{ f is float }} {{ i is integer }} {{ true is boolean }} {{ d is mapping }} {{ l is iterable }} {{ s is iterable }} {{ l is sequence }} {{ i is even }} {{ i is odd }} {{ 9 is divisibleby 3 }} {{ 1 is sameas 1 }} {{ false is false }} {{ true is true }} {{ 'abc' is lower }} {{ l is not mapping }}", 0, true, "False True True True True True True True True True True True False True True True True True True True"},
    {"{{ 1 in l }} {{ 9 not in l }} {{ 'ell' in s }} {{ 'a' in d }} {{ 'x' in missing }} {{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ none == none }} {{ 'a' != 'a' }}", 0, true, "True True True True False True False True True True True True False"},
    {"{{ 'yes' if i > 3 else 'no' }} {{ 'x' if false }}| {{ (i > 3) and 'a' or 'b' }} {{ 0 or '' or 'last' }} {{ 1 and 0 }} {{ not 0 }}", 0, true, "yes | a last 0 True"},
    {"  {% if true %}\n    indented\n  {% endif %}\nnext\n{# comment #}\nafter\n  {#- c -#}  tail", 0, true, "    indented\nnext\naftertail"},
    {"a  {%- if true -%}  b  {%- endif -%}  c\n{{- ' d ' -}}\n e {%+ if true %}f{% endif %}\n{% if true +%}\ng{% endif %}", 0, true, "abc d e f\ng"},
    {"{% raw %}{{ not rendered }}{% endraw %} {{ '{{' }}", 0, true, "{{ not rendered }} {{"},
    {"{% for m in messages %}{% if loop.previtem is defined %}{{ loop.previtem.role }}>{% endif %}{{ m.role }}{% if loop.nextitem is defined %}<{{ loop.nextitem.role }}{% endif %};{% endfor %}", 0, true, "system<user;system>user<assistant;user>assistant<user;assistant>user;"},
    {"{% for i in range(3) %}{{ i }}{% endfor %} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ loop is defined }}", 0, true, "012 [1, 4, 7] [5, 3, 1] False"},
    {"{% for a in [[1, 2], [3]] %}{% for b in a %}{{ loop.index }}.{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", 0, true, "1.1 2.2 1|1.3 2|"},
    {"{% for x in l %}{{ loop.cycle('a', 'b') }}{% endfor %} {% for x in [1,1,2] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", 0, true, "aba 12"},
    {"{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}", 0, true, "3"},
    {"{{ strftime_now('%Y-%m-%d %H:%M %a %b %B %d') }} {{ bos_token }}{{ eos_token }} {{ add_generation_prompt }} {{ tools }} {{ tools is none }} {{ tools is defined }}", 0, true, "2026-01-15 00:00 Thu Jan January 15 <s></s> True None True True"},
    {"{{ \"a\" \"b\" 'c' }} {{ '\\u00e9\\x41\\t|' }} {{ 0x1F }} {{ 1_000 }} {{ 1.5e3 }} {{ .5 if false else 'x' }}", 0, false, ""},
    {"{% set a, b = [1, 2] %}{{ a }}{{ b }} {% set t = (1, 2, 3) %}{{ t[1:] }} {{ t|list }} {{ t|length }}", 0, true, "12 (2, 3) [1, 2, 3] 3"},
    {"{{ messages[0].content }} {{ messages[0]['role'] }} {{ messages.0.role }} {{ nest.x[1].y }} {{ nest['x'][1]['y'] }}", 0, true, "Be brief. system system z z"},
    {"{{ l + [4] }} {{ 'ab' * 3 }} {{ [0] * 3 }} {{ 'a' + 'b' }} {{ -i }} {{ +f }} {{ 10 - 2.5 }} {{ 3 * 1.5 }}", 0, true, "[3, 1, 2, 4] ababab [0, 0, 0] ab -7 1.5 7.5 4.5"},
    {"{{ raise_exception('custom failure') }}", 0, false, ""},
    {"{{ 'a' + n }}", 0, false, ""},
    {"{{ 'a' + 1 }}", 0, false, ""},
    {"{{ missing.attr }}", 0, false, ""},
    {"{{ n.attr }}", 0, true, ""},
    {"{{ n.split() }}", 0, false, ""},
    {"{% for x in n %}{% endfor %}", 0, false, ""},
    {"{{ 'x' in n }}", 0, false, ""},
    {"{{ 1 / 0 }}", 0, false, ""},
    {"{{ missing + 1 }}", 0, false, ""},
    {"{{ l.append(4) }}", 0, false, ""},
    {"{{ 1 < 'a' }}", 0, false, ""},
    {"{% if %}", 0, false, ""},
    {"{% for x in l %}", 0, false, ""},
    {"{{ x | nosuchfilter }}", 0, false, ""},
    {"{% endif %}", 0, false, ""},
    {"{{ 'unterminated }}", 0, false, ""},
    {"{{ l[1:2:0] }}", 0, false, ""},
    {"{{ missing }}|{{ missing.x is defined }}", 0, false, ""},
    {"{{ d.b.c }}", 0, true, ""},
    {"{{ i is divisibleby(0) }}", 0, false, ""},
    {"{{ 'abc'|tojson }}{{ missing|tojson }}", 0, false, ""},
    {"{{ f|round(0, 'floor') }} {{ f|round(0, 'ceil') }} {{ 1234.5678|round(-2) }} {{ 0.5|round }} {{ 1.5|round }} {{ -0.5|round }}", 0, true, "1.0 2.0 1200.0 0.0 2.0 -0.0"},
    {"{{ '%s is %d'|format('x', 3) }} {{ '%s-%s' % ('a', 'b') }} {{ '%05.1f' if false else 'ok' }}", 0, true, "x is 3 a-b ok"},
    {"{{ 1e100 }} {{ 1.5e-7 }} {{ 12345678901234567.0 }} {{ 0.0001 }} {{ -0.0 }} {{ 100.0 }} {{ 1/3 }} {{ 2**62 }} {{ 10 ** 15 * 1.0 }} {{ 10 ** 16 * 1.0 }}", 0, true, "1e+100 1.5e-07 1.2345678901234568e+16 0.0001 -0.0 100.0 0.3333333333333333 4611686018427387904 1000000000000000.0 1e+16"},
    {"{{ [1, [2, (3, 4)], {'k': 'v'}]|tojson }} {{ {'a': {'b': []}}|tojson(indent=2) }} {{ d|tojson(separators=(',', ':')) }}", 0, true, "[1, [2, [3, 4]], {\"k\": \"v\"}] {\n  \"a\": {\n    \"b\": []\n  }\n} {\"b\":2,\"a\":1,\"items\":3}"},
    {"{{ 'tab\\there' }} {{ ['tab\\there', '\\x01', '\303\251', '\\u2028'] }}", 0, true, "tab\there ['tab\\there', '\\x01', '\303\251', '\\u2028']"},
    {"{{ messages|selectattr('role', 'in', ['user', 'system'])|map(attribute='content')|map('trim')|join('|') }}", 0, true, "Be brief.|Hi there|Bye"},
    {"{{ l|map('string')|join('-') }} {{ ['a','b']|map('upper')|list }} {{ messages|map(attribute='missing', default='d')|list }}", 0, true, "3-1-2 ['A', 'B'] ['d', 'd', 'd', 'd']"},
    {"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}{{ loop_messages|length }}", 0, true, "3"},
    {"{%- for message in messages -%}\n  {%- if message.role == 'user' -%}\n    U: {{ message.content | trim }}\n  {%- else -%}\n    {{ message.role }}: {{ message.content }}\n  {% endif %}\n{%- endfor %}", 0, true, "system: Be brief.\nU: Hi thereassistant: Hello!\nU: Bye"},
    {"{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\nend\n", 0, true, "  system\n  user\n  assistant\n  user\nend"},
    {"line1\n  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n  {% for i in [1] %}{{ i }}{% endfor %}\n", 0, true, "line1\n  x\n  y\n1"},
    {"{{ 'A' }}\n{% set q = 1 %}\n{{ q }}\r\n{% if q %}\r\nz\r\n{% endif %}\r\n", 0, true, "A\n1\nz\n"},
    {"{{ none }} {{ None }} {{ True }} {{ false }} {{ true|string }} {{ none|string }} {{ [none]|string }}", 0, true, "None None True False True None [None]"},
    {"{{ i > 3 and s or 'no' }} {{ i if i is odd }} {{ not missing }} {{ missing == missing }} {{ missing is none }}", 0, true, "Hello World 7 True True False"},
    {"{{ namespace(a=1).a }} {{ dict(a=1, b=2) }} {% set ns = namespace() %}{% set ns.items = [1] %}{{ ns.items }}", 0, true, "1 {'a': 1, 'b': 2} [1]"},
    {"{{ l|unique|list }} {{ [3, 1, 3]|unique|list }} {{ messages|map(attribute='role')|unique|list }} {{ ['B','b']|unique(case_sensitive=true)|list }}", 0, true, "[3, 1, 2] [3, 1] ['system', 'user', 'assistant'] ['B', 'b']"},
    {"{{ 'hello'.center(11, '*') }} {{ '5'.zfill(3) }} {{ 'abc'.ljust(5) }}| {{ 'a b'.partition(' ') }} {{ 'x'.isdigit() }} {{ '12'.isdigit() }} {{ 'Ab'.isalpha() }} {{ '  '.isspace() }}", 0, true, "***hello*** 005 abc  | ('a', ' ', 'b') False True True True"},
    {"{{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'abc'.index('c') }} {{ 'a-b'.removeprefix('a-') }} {{ 'x.py'.removesuffix('.py') }}", 0, true, "['a', 'b', 'c'] 2 b x"},
    {"{%- set tools_str = tools | tojson if tools else '' -%}[{{ tools_str }}]", 0, true, "[]"},
    {"{% macro m(a, b) %}{{ a }}|{{ b }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1) }} {{ m(1, 2, 3, x=4) }}", 0, true, "1||()|{} 1|2|(3,)|{'x': 4}"},
    {"{% for i in range(3) %}{% for j in range(3) %}{% if j > i %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}{% endfor %}", 0, true, "00 10 11 20 21 22 "},
    {"{% for item in nest.x recursive %}{% if item is mapping %}{{ item.y }}{% else %}{{ item }}{{ loop.depth }}{% endif %}{% endfor %}", 0, true, "11z"},
    {"{{ d | dictsort(by='value') }} {{ d | dictsort(reverse=true) }}", 0, true, "[('a', 1), ('b', 2), ('items', 3)] [('items', 3), ('b', 2), ('a', 1)]"},
    {"{{ [1, 2, 3] | select('gt', 1) | list }} {{ [1,2,3]|select('==', 2)|list }} {{ [1,2,3]|reject('lessthan', 2)|list }}", 0, true, "[2, 3] [2] [2, 3]"},
    {"{{ 'x' ~ 1.0 ~ 2 ~ [1] ~ {'a': 1} }} {{ [1.0, 2.50, 1e-7] }}", 0, true, "x1.02[1]{'a': 1} [1.0, 2.5, 1e-07]"},
    {"a\n{% if true %}\nb\n{% endif %}\nc", 1, true, "a\nb\nc"},
    {"a\n  {% if true %}  \nb\n  {% endif %}\nc", 1, true, "a\n  \nb\nc"},
    {"a {% if true %}b{% endif %} c", 1, true, "a b c"},
    {"\t{% if true %}\tb\n\t{%- endif %}\n", 1, true, "\tb"},
    {"{# c #}\n{#- c #}  \n  {# c -#}\n x", 1, true, "  \nx"},
    {"x{{ x }}\n{{ x }}\n  {{ x }}  \n", 1, true, "xX\nX\n  X  "},
    {"{% for i in l %}\n  {{ i }}\n{% endfor %}\n", 1, true, "  1\n  2\n"},
    {"{%- for i in l -%}\n  {{ i }}\n{%- endfor -%}\n", 1, true, "12"},
    {"{% for i in l %}{{ i }}{% endfor %}\n\n", 1, true, "12"},
    {"a\343\200\200{%- if true %}b{% endif -%}\343\200\200c", 1, true, "abc"},
    {"{% if true %}\r\nwin\r\n{% endif %}\r\n", 1, true, "win\n"},
    {"  {%+ if true %}keep{% endif %}", 1, true, "  keep"},
    {"{% if true %}no trim +%}\n{% endif +%}\nz", 1, true, "no trim +%}\n\nz"},
    {"{% set x = {'a': {'b': 1}}%}{{ x }}", 1, true, "{'a': {'b': 1}}"},
    {"{{ {'a':{'b':1}}}}", 1, true, "{'a': {'b': 1}}"},
    {"{{x}}{{-x-}}{{ x -}}   \n  {{- x }}", 1, true, "XXXX"},
    {"{% raw -%}   r  {{ x }}  {%- endraw %}|", 1, true, "r  {{ x }}|"},
    {"  {% raw %}r{% endraw %}  \n  x", 1, true, "r  \n  x"},
    {"{%- macro f() -%}\n  body\n{%- endmacro -%}\n[{{ f() }}]", 1, true, "[body]"},
    {"{% macro f() %}\n  body\n{% endmacro %}\n[{{ f() }}]", 1, true, "[  body\n]"},
    {"{{ 'a' }}{# comment with {{ stuff }} and %} #}b", 1, true, "ab"},
    {"{% if x == 'X' %}yes{% elif x %}maybe{% else %}no{% endif %}{% if false %}{% elif false %}{% else %}else{% endif %}", 1, true, "yeselse"},
    {"{{ x\n  |lower\n}}", 1, true, "x"},
    {"text { not a tag } {x} %} }} #}", 1, true, "text { not a tag } {x} %} }} #}"},
    {"{{ '\\\\' }} {{ \"\\\\n\" }} {{ '\\q' }}", 1, true, "\\ \\n \\q"},
    {"{{ 1 if true else 2 if false else 3 }} {{ (1 if false else 2) + 1 }}", 1, true, "1 3"},
    {"{{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 1 + 2 * 3 - 4 / 2 }} {{ 10 - 2 - 3 }} {{ 'a' ~ 1 + 2 }} {{ not true == false }}", 1, false, ""},
    {"{{ 1 + -1 }} {{ - - 1 }} {{ -'a'|length }}", 1, false, ""},
    {"{{ l|length > 1 }} {{ x|lower == 'x' }} {{ l | join(',') ~ 'z' }}", 1, true, "True True 1,2z"},
    {"{{ messages[-1].content }} {{ messages[-1]['content'][0] }}", 1, true, "hi h"},
    {"{% set a = [1, 2, 3] %}{% for x in a[1:] %}{{ x }}{% endfor %}{% for x in a|reverse %}{{ x }}{% endfor %}", 1, true, "23321"},
    {"{% for a, b in [[1, 2], [3, 4]] %}{{ a }}{{ b }}{% endfor %}{% for (a, b) in [(5, 6)] %}{{ a + b }}{% endfor %}", 1, true, "123411"},
    {"{% if not x is defined %}u{% else %}d{% endif %}{% if x is not defined %}u{% else %}d{% endif %}", 1, true, "dd"},
    {"{% for m in messages %}{% set outer = m %}{% endfor %}{{ outer is defined }}", 1, true, "False"},
    {"{% if true %}{% set inner = 1 %}{% endif %}{{ inner }}", 1, true, "1"},
    {"{% set z = 5 %}{% macro m() %}{{ z }}{% endmacro %}{{ m() }}{% set z = 6 %}{{ m() }}", 1, true, "56"},
    {"{{ 'a' is string and 'b' }} {{ [] is iterable }} {{ 1 is iterable }} {{ 'x' is sequence }}", 1, true, "b True False True"},
    {"{% macro m(x) %}[{{ caller(x * 2) }}]{% endmacro %}{% call(v) m(3) %}got {{ v }}{% endcall %}", 2, true, "[got 6]"},
    {"{% for node in tree recursive %}{{ loop.depth }}{{ node.n }}({{ loop(node.c) }}){% endfor %}", 2, true, "1a(2b()2c(3d()))"},
    {"{% macro outer() %}{% macro inner() %}I{% endmacro %}O{{ inner() }}{% endmacro %}{{ outer() }}", 2, true, "OI"},
    {"{% set messages = [1] %}{% for m in messages %}{{ m }}{% endfor %}", 2, true, "1"},
    {"{% macro m() %}{% set ns = namespace(a=1) %}{% for i in l %}{% set ns.a = ns.a * 2 %}{% endfor %}{{ ns.a }}{% endmacro %}{{ m() }}", 2, true, "8"},
    {"{% filter replace('a', 'b') %}banana{% endfilter %}|{% filter trim|upper %}  x  {% endfilter %}", 2, true, "bbnbnb|X"},
    {"{% for i in l %}{% for j in l %}{{ loop.index }}{% endfor %}:{{ loop.index }} {% endfor %}", 2, true, "123:1 123:2 123:3 "},
    {"{{ l|map('string')|map('int')|sum }} {{ [[1, 2], [3]]|map('length')|list }} {{ l|select('divisibleby', 2)|list }}", 2, true, "6 [2, 1] [2]"},
    {"{% set x %}{% for i in l %}{{ i }}{% endfor %}{% endset %}{{ x|length }}{{ x }}", 2, true, "3123"},
    {"{{ 'a' if l else 'b' }}{% if l and l[0] == 1 and not l[5] is defined %}ok{% endif %}", 2, true, "aok"},
    {"{% for a in l %}{% if loop.first %}F{% elif loop.last %}L{% else %}M{% endif %}{% endfor %}", 2, true, "FML"},
    {"{{ '%s' % 'x' }} {{ '%d%%' % 5 }} {{ '%r' % 'q' }}", 2, true, "x 5% 'q'"},
    {"{% for k, v in {'a': 1, 'b': [2]}.items() %}{{ k }}{{ v|tojson }}{% endfor %}", 2, true, "a1b[2]"},
    {"{{ tree[0].c|map(attribute='n')|join }} {{ tree|selectattr('n')|list|length }} {{ tree[0].c|selectattr('c')|map(attribute='n')|first }}", 2, true, "bc 1 c"},
    {"{%- set ns = namespace(found=false) -%}{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}{{ ns.found }}", 2, true, "True"},
    {"{{ messages|tojson(indent=2) }}\n{{ {'a': '\303\251', 'b': [1, 2.0, none, true]}|tojson(indent=4) }}", 2, true, "[\n  {\n    \"role\": \"user\",\n    \"content\": \"hi\"\n  }\n]\n{\n    \"a\": \"\303\251\",\n    \"b\": [\n        1,\n        2.0,\n        null,\n        true\n    ]\n}"},
    {"{% if messages|length > 0 and messages[0].role is defined %}{{ messages[0].role|capitalize }}{% endif %}", 2, true, "User"},
    {"{{ 'a\\u2028b'.splitlines() }} {{ ' x\\u3000'|trim }}|{{ '\\u3000 y \\xa0'.strip() }}|", 2, true, "['a', 'b'] x|y|"},
    {"{% for m in messages %}{% for f in messages[loop.index:] %}{{ f.role[0] }}{% endfor %}|{% endfor %}", 3, true, "uatu|atu|tu|u||"},
    {"{% for m in messages %}{{ 'content' in m }}{{ 'tool_calls' not in m }}{% endfor %}", 3, true, "TrueTrueTrueTrueTrueFalseTrueTrueTrueTrue"},
    {"{% set ids = namespace(value=[]) %}{% for m in messages %}{% set ids.value = ids.value + [m.role] %}{% endfor %}{{ ids.value }}", 3, true, "['system', 'user', 'assistant', 'tool', 'user']"},
    {"{% for m in messages %}{{ m.role|lower }}{% if m.role == 'tool' %}{% break %}{% endif %},{% endfor %}", 3, true, "system,user,assistant,tool"},
    {"{% set d = 2 %}[{{ '    ' * d }}]{% for field, name in [('maximum', 'Max'), ('minimum', 'Min')] %}{% if field in tools[0].function.parameters.properties.x %}{{ name }}={{ tools[0].function.parameters.properties.x[field] }}{% endif %}{% endfor %}", 3, true, "[        ]Max=9"},
    {"{{ tools[0].function.parameters.properties.w.oneOf|selectattr('type', 'defined')|map(attribute='type')|unique|list|join(' | ') }} {{ {'a': 'it\\'s'}|string|replace(\"'\", '\"') }}", 3, true, "string | number {\"a\": \"it\"s\"}"},
    {"{{ (messages[0]['content'] | default('', true)).replace('/think', '').replace('/no_think', '').strip() }}|{{ messages[2].content.split('</think>')[1] | default('', true) }}|{{ (none | default('', true)) }}", 3, true, "Be  brief.| A1|"},
    {"{% set ns = namespace() %}{% set ns.x = 1 %}{{ ns.x is defined }}{{ ns.y is defined }}{% set ns.last = messages[-1]['tool_calls'] if 'tool_calls' in messages[-1] else [] %}{{ ns.last|length }}", 3, true, "TrueFalse0"},
    {"{% for t in tools %}{{ (t.function if t.function is defined else t)|tojson }}{{ ', ' if not loop.last else '' }}{% endfor %}", 3, true, "{\"name\": \"f\", \"description\": \"Does f\", \"parameters\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\", \"description\": \"an x\", \"default\": 3, \"maximum\": 9}, \"y\": {\"type\": [\"string\", \"null\"], \"enum\": [\"a\", \"b\"]}, \"z\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, \"w\": {\"oneOf\": [{\"type\": \"string\", \"format\": \"date\"}, {\"type\": \"number\"}]}}, \"required\": [\"x\"]}}"},
    {"{{ messages[1:]|map(attribute='role')|list }} {{ messages|selectattr('tool_calls', 'defined')|list|length }} {{ messages|rejectattr('role', 'in', ['user', 'system'])|map(attribute='role')|join }}", 3, true, "['user', 'assistant', 'tool', 'user'] 1 assistanttool"},
    {"{% if messages[-1]['role'] == 'assistant' %}a{% else %}{{ messages[-1]['role'] }}{% endif %}{{ messages[:-1]|length }}", 3, true, "user4"},
    {"{{ tools[0].function.parameters.properties.x.default|tojson }} {{ 'x' ~ tools[0].function.parameters.properties.x.default ~ '.' }}", 3, true, "3 x3."},
    {"{{ strftime_now('%Y-%m-%d') }} {{ strftime_now('%A %d %B %Y %I%p %j') }}", 3, true, "2026-01-15 Thursday 15 January 2026 12AM 015"},
    {"{{ 2.5[1:3] is lower }}|{{ none[::-1] }}|{{ loopy is callable }}|{{ 3[1:] is defined }}|{{ (1, 2, 3)[1:] }}{{ 'abc'[-2:] }}", 4, true, "False||True|False|(2, 3)bc"},
    {"{{ f[1:] }}", 5, false, ""},
};

static const owl_template_opts FIXED_TIME = {.fixed_time = true, .time = 1768435200}; /* 2026-01-15 */

/* Renders src with a context like the one the table was made with; returns 0 or -1. */
static int render_with(const char *src, const char *ctx_json, const owl_template_opts *opts, char **out,
                       owl_error *err) {
    *out = NULL;
    owl_template *t = owl_template_parse(src, strlen(src), err);
    if (!t) return -1;
    json_t *ctx = json_loads(ctx_json ? ctx_json : "{}", 0, NULL);
    json_t *msgs = json_object_get(ctx, "messages");
    json_t *empty = json_array();
    json_t *extra = json_deep_copy(ctx);
    json_object_del(extra, "messages");
    owl_chat_params p = {.messages = msgs ? msgs : empty, .add_generation_prompt = true, .bos_token = "<s>",
                         .eos_token = "</s>", .extra = extra};
    size_t n;
    int rc = owl_chat_render(t, &p, opts ? opts : &FIXED_TIME, out, &n, err);
    json_decref(extra);
    json_decref(empty);
    json_decref(ctx);
    owl_template_destroy(t);
    return rc;
}

static void test_language_table(void) {
    int passed = 0, total = 0;
    for (size_t i = 0; i < sizeof LANG_CASES / sizeof LANG_CASES[0]; i++) {
        const lang_case *c = &LANG_CASES[i];
        char *out;
        owl_error err = {{0}};
        int rc = render_with(c->src, LANG_CONTEXTS[c->ctx], NULL, &out, &err);
        total++;
        if (c->ok && rc == 0 && strcmp(out, c->expected) == 0) passed++;
        else if (!c->ok && rc != 0) passed++;
        else {
            printf("  case %zu: %s\n    template: %s\n    expected: %s\n    got:      %s\n", i,
                   c->ok ? "output differs" : "expected an error", c->src, c->expected, rc ? err.msg : out);
            test_cur_failed = 1;
        }
        free(out);
    }
    printf("  %d/%d language cases agree with jinja2\n", passed, total);
}

static void expect_error(const char *src, const char *needle) {
    char *out;
    owl_error err = {{0}};
    int rc = render_with(src, NULL, NULL, &out, &err);
    CHECKF(rc != 0, "'%s' rendered '%s'", src, out ? out : "");
    CHECKF(rc != 0 && strstr(err.msg, needle) != NULL, "'%s': message '%s' lacks '%s'", src, err.msg, needle);
    CHECKF(strchr(err.msg, '\n') == NULL, "multi-line message '%s'", err.msg);
    free(out);
}

static void test_syntax_errors(void) {
    expect_error("{% if x %}", "line 1, column 11: unexpected end of template: missing '{% endif %}'");
    expect_error("ab\ncd {{ 1 + }}", "line 2, column 11: expected an expression");
    expect_error("{% for x in y %}\n{% endif %}", "line 2, column 4");
    expect_error("{{ x | nosuch }}", "no filter named 'nosuch'");
    expect_error("{{ x is nosuch }}", "no test named 'nosuch'");
    expect_error("\n\n  {{ 'open }}", "line 3, column 6: unterminated string literal");
    expect_error("{% frobnicate %}", "unknown or misplaced tag 'frobnicate'");
    expect_error("{# never closed", "missing end of comment tag");
    expect_error("{{ a ]] }}", "line 1");
    expect_error("{{ '\\x4' }}", "truncated \\x escape");
    expect_error("{% set true = 1 %}", "cannot assign to 'true'");
}

static void test_render_errors(void) {
    /* a template's own exception: exactly its message */
    char *out;
    owl_error err;
    CHECK(render_with("{{ raise_exception('Roles must alternate') }}", NULL, NULL, &out, &err) != 0);
    CHECK_STR(err.msg, "Roles must alternate");
    /* Python's wording, after the line number */
    expect_error("\n{{ 'a' + none }}", "line 2: can only concatenate str (not \"NoneType\") to str");
    expect_error("{% for x in none %}{% endfor %}", "'NoneType' object is not iterable");
    expect_error("{{ 'x' in none }}", "argument of type 'NoneType' is not iterable");
    expect_error("{{ none.split('a') }}", "'None' has no attribute 'split'");
    expect_error("{{ nothing.attr }}", "'nothing' is undefined");
    expect_error("{{ {'a': 1}.b.c }}", "'dict object' has no attribute 'b'");
    expect_error("{{ 1 // 0 }}", "integer division or modulo by zero");
    expect_error("{{ [1].append(2) }}", "has no attribute 'append'");
    expect_error("{{ {'a': 1}|tojson }}{{ x|tojson }}", "not JSON serializable");
    expect_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
}

static void test_limits(void) {
    owl_template_opts small = FIXED_TIME;
    small.max_steps = 100000;
    small.max_output = 1000;
    small.max_memory = (size_t)8 << 20;
    char *out;
    owl_error err;
    /* unbounded work in various shapes: each must stop with a clear message, quickly */
    CHECK(render_with("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL,
                      &small, &out, &err) != 0);
    CHECKF(strstr(err.msg, "steps") != NULL, "%s", err.msg);
    CHECK(render_with("{% for i in range(2000) %}xxxxxxxx{% endfor %}", NULL, &small, &out, &err) != 0);
    CHECKF(strstr(err.msg, "output exceeds 1000 bytes") != NULL, "%s", err.msg);
    CHECK(render_with("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, &small, &out, &err) != 0);
    CHECKF(strstr(err.msg, "recursion") != NULL, "%s", err.msg);
    CHECK(render_with("{{ 'x' * 100000000 }}", NULL, &small, &out, &err) != 0);
    CHECKF(strstr(err.msg, "memory") != NULL || strstr(err.msg, "too large") != NULL, "%s", err.msg);
    CHECK(render_with("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                      NULL, &small, &out, &err) != 0);
    CHECK(render_with("{{ range(1000000000)|length }}", NULL, &small, &out, &err) != 0);
    CHECKF(strstr(err.msg, "range too big") != NULL, "%s", err.msg);
    /* parser nesting */
    char deep[4000];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
    for (int i = 0; i < 1000; i++) deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 1000; i++) deep[n++] = ')';
    snprintf(deep + n, sizeof deep - n, " }}");
    CHECK(render_with(deep, NULL, &small, &out, &err) != 0);
    CHECKF(strstr(err.msg, "nesting too deep") != NULL, "%s", err.msg);
    /* invalid UTF-8 in the template */
    CHECK(owl_template_parse("\xff{{ x }}", 8, &err) == NULL);
    CHECK(strstr(err.msg, "UTF-8") != NULL);
}

static void test_builtins(void) {
    const char *msgs = "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"},"
                       " {\"role\": \"assistant\", \"content\": \"A\"}, {\"role\": \"user\", \"content\": \"V\"}]}";
    static const struct {
        const char *name, *expected;
    } want[] = {
        {"chatml", "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
                   "<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n"},
        {"llama2", "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s><s>[INST] V [/INST]"},
        {"llama3", "<s><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                   "U<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA<|eot_id|><|start_header_id|>user"
                   "<|end_header_id|>\n\nV<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
        {"mistral", "<s>[INST] S\n\nU[/INST] A</s>[INST] V[/INST]"},
        {"gemma", "<s><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\nA<end_of_turn>\n<start_of_turn>user\n"
                  "V<end_of_turn>\n<start_of_turn>model\n"},
        {"phi3", "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\nA<|end|>\n<|user|>\nV<|end|>\n<|assistant|>\n"},
    };
    size_t count = 0;
    for (const char *const *n = owl_chat_builtin_names(); *n; n++) count++;
    CHECK_EQ_INT(count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *src = owl_chat_builtin(want[i].name);
        REQUIRE(src);
        char *out;
        owl_error err;
        int rc = render_with(src, msgs, NULL, &out, &err);
        CHECKF(rc == 0, "%s: %s", want[i].name, err.msg);
        if (rc == 0) CHECK_STR(out, want[i].expected);
        free(out);
    }
    CHECK(owl_chat_builtin("nope") == NULL);

    owl_str chatml[] = {{"<s>", 3}, {"<|im_start|>", 12}, {"hello", 5}};
    owl_str llama3[] = {{"<|begin_of_text|>", 17}, {"<|start_header_id|>", 19}};
    owl_str gemma[] = {{"<bos>", 5}, {"<start_of_turn>", 15}};
    owl_str phi3[] = {{"<|user|>", 8}, {"<|end|>", 7}, {"<|assistant|>", 13}};
    owl_str mistral[] = {{"<s>", 3}, {"[INST]", 6}, {"[/INST]", 7}};
    owl_str plain[] = {{"<s>", 3}, {"</s>", 4}};
    CHECK_STR(owl_chat_builtin_detect("qwen2", chatml, 3), "chatml");
    CHECK_STR(owl_chat_builtin_detect("llama", llama3, 2), "llama3");
    CHECK_STR(owl_chat_builtin_detect("gemma2", gemma, 2), "gemma");
    CHECK_STR(owl_chat_builtin_detect("phi3", phi3, 3), "phi3");
    CHECK_STR(owl_chat_builtin_detect("llama", mistral, 3), "mistral");
    CHECK_STR(owl_chat_builtin_detect("llama", plain, 2), "llama2");
    CHECK_STR(owl_chat_builtin_detect("gemma", plain, 2), "gemma");
    CHECK_STR(owl_chat_builtin_detect(NULL, plain, 2), "chatml");
}

static void test_api(void) {
    owl_error err;
    /* a context that is not an object, and a template rendered without one */
    owl_template *t = owl_template_parse("[{{ x }}]", 9, &err);
    REQUIRE(t);
    char *out;
    size_t n;
    json_t *arr = json_array();
    CHECK(owl_template_render(t, arr, NULL, &out, &n, &err) != 0);
    json_decref(arr);
    CHECK(owl_template_render(t, NULL, NULL, &out, &n, &err) == 0);
    CHECK_STR(out, "[]");
    CHECK_EQ_INT(n, 2);
    free(out);
    owl_template_destroy(t);
    owl_template_destroy(NULL);
    /* the empty template; a trailing newline is dropped, as jinja2 does by default */
    t = owl_template_parse("", 0, &err);
    REQUIRE(t);
    CHECK(owl_template_render(t, NULL, NULL, &out, &n, &err) == 0 && n == 0);
    free(out);
    owl_template_destroy(t);
    t = owl_template_parse("x\n", 2, &err);
    REQUIRE(t);
    CHECK(owl_template_render(t, NULL, NULL, &out, &n, &err) == 0);
    CHECK_STR(out, "x");
    free(out);
    owl_template_destroy(t);
    /* messages must be an array */
    owl_chat_params p = {0};
    CHECK(owl_chat_context(&p, &err) == NULL);
    CHECK(strstr(err.msg, "messages") != NULL);
}

/* Inputs the fuzzer once found troublesome: each must parse-and-render or fail cleanly. */
static void test_fuzz_regressions(void) {
    const char *dir = "tests/data/fuzz/template";
    DIR *d = opendir(dir);
    if (!d) SKIP("%s is absent", dir);
    struct dirent *e;
    int count = 0;
    owl_template_opts opts = FIXED_TIME;
    opts.max_steps = 200000;
    opts.max_output = (size_t)1 << 20;
    opts.max_memory = (size_t)64 << 20;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        owl_error err;
        owl_template *t = owl_template_parse(buf, n, &err);
        if (t) {
            json_t *ctx = json_pack("{s:[{s:s,s:s}], s:b, s:n}", "messages", "role", "user", "content", "hi",
                                    "add_generation_prompt", 1, "tools");
            char *out = NULL;
            size_t len;
            (void)owl_template_render(t, ctx, &opts, &out, &len, &err);
            free(out);
            json_decref(ctx);
            owl_template_destroy(t);
        }
        count++;
    }
    closedir(d);
    printf("  %d fuzz regression inputs handled\n", count);
}

int main(void) {
    RUN(test_language_table);
    RUN(test_syntax_errors);
    RUN(test_render_errors);
    RUN(test_limits);
    RUN(test_builtins);
    RUN(test_api);
    RUN(test_fuzz_regressions);
    return test_summary();
}
