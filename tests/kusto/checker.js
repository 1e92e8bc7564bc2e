'use strict';
// Line-oriented JSON server around Kusto.Language, Microsoft's KQL parser and
// semantic analyzer, as published in @kusto/language-service-next (a Bridge.NET
// build of the C# library). tests/kustocheck.py starts one process per test run
// and sends one JSON request per line on stdin. Every request gets exactly one
// JSON response line on stdout, in request order.
//
// Requests:
//   {"id": 1, "op": "analyze", "query": "T | ...",
//    "tables": {"T": [["Col", "string"], ...]}, "lint": false}
//   {"id": 2, "op": "literal", "text": "@'it''s'"}
// Every response has "id" and "ok". With "ok": false it has "error" instead of
// the op's fields. All offsets (start, length, end) count Unicode code points,
// as Python's str indexing does, not the UTF-16 units JavaScript uses.
//
// The first line written is {"ready": true, ...} once the library has loaded, or
// {"ready": false, "error": ...} followed by exit status 1 if loading failed.

const path = require('path');
const readline = require('readline');

const PACKAGE = '@kusto/language-service-next';

let K;
let packageVersion;
try {
  const packageDir = path.dirname(require.resolve(PACKAGE + '/package.json'));
  packageVersion = require(PACKAGE + '/package.json').version;
  // bridge.js defines the global `Bridge` that the library file expects.
  require(path.join(packageDir, 'bridge.js'));
  require(path.join(packageDir, 'Kusto.Language.Bridge.js'));
  K = global.Kusto.Language;
} catch (err) {
  process.stdout.write(JSON.stringify({ ready: false, error: String(err && err.stack || err) }) + '\n');
  process.exit(1);
}

// `print x = ` is the prefix under which a literal request's text is parsed.
const LITERAL_PREFIX = 'print x = ';

// An invalid request. Its message is reported without a stack trace, unlike
// unexpected exceptions from Kusto.Language.
class RequestError extends Error {}

function toArray(list) {
  const items = [];
  if (list === null || list === undefined) {
    return items;
  }
  const enumerator = Bridge.getEnumerator(list);
  while (enumerator.moveNext()) {
    items.push(enumerator.Current);
  }
  return items;
}

// Converts UTF-16 offsets into code point offsets. The conversion is skipped for
// text without surrogate pairs, where both counts agree.
function offsetConverter(text) {
  if (!/[\uD800-\uDFFF]/.test(text)) {
    return (offset) => offset;
  }
  return (offset) => Array.from(text.slice(0, offset)).length;
}

function describeDiagnostics(list, text) {
  const toCodePoints = offsetConverter(text);
  return toArray(list).map((d) => {
    const start = toCodePoints(d.Start);
    const end = toCodePoints(d.End);
    return {
      severity: String(d.Severity),
      code: d.Code,
      category: d.Category,
      message: d.Message,
      start: start,
      length: end - start,
    };
  });
}

// GlobalState objects keyed by the JSON of the table set, so that requests
// with the same tables share one set of symbols. Building the symbols is cheap
// (about 1 ms for nine 40-column tables on Node 20), so the cache mainly keeps
// memory flat over a long test run.
const globalsCache = new Map();

function buildColumn(tableName, spec) {
  if (!Array.isArray(spec) || spec.length !== 2 || typeof spec[0] !== 'string' || typeof spec[1] !== 'string') {
    throw new RequestError('invalid column in table ' + tableName + ': expected ["name", "type"], got ' + JSON.stringify(spec));
  }
  const [name, typeName] = spec;
  const type = K.Symbols.ScalarTypes.GetSymbol(typeName);
  if (type === null || type === undefined) {
    throw new RequestError('unknown KQL type ' + JSON.stringify(typeName) + ' for column ' + tableName + '.' + name);
  }
  return new K.Symbols.ColumnSymbol(name, type, null, null, null, null);
}

function globalsFor(tables) {
  if (tables === null || typeof tables !== 'object' || Array.isArray(tables)) {
    throw new RequestError('"tables" must be an object mapping table names to [["column", "type"], ...]');
  }
  const key = JSON.stringify(tables);
  let globals = globalsCache.get(key);
  if (globals === undefined) {
    const symbols = Object.keys(tables).map((tableName) => {
      const columnSpecs = tables[tableName];
      if (!Array.isArray(columnSpecs)) {
        throw new RequestError('columns of table ' + tableName + ' must be a list, got ' + JSON.stringify(columnSpecs));
      }
      const columns = columnSpecs.map((spec) => buildColumn(tableName, spec));
      return new K.Symbols.TableSymbol.$ctor4(tableName, columns);
    });
    const database = new K.Symbols.DatabaseSymbol.ctor('db', symbols);
    globals = K.GlobalState.Default.WithDatabase(database);
    globalsCache.set(key, globals);
  }
  return globals;
}

// Returns the result schema as [[name, type], ...], or null when the query's
// result is not tabular (for example a query that is only a `let` statement).
function resultColumns(code) {
  const resultType = code.ResultType;
  if (resultType === null || resultType === undefined || !Bridge.is(resultType, K.Symbols.TableSymbol)) {
    return null;
  }
  return toArray(resultType.Columns).map((column) => [column.Name, column.Type.Name]);
}

function analyze(request) {
  if (typeof request.query !== 'string') {
    throw new RequestError('"query" must be a string');
  }
  const globals = globalsFor(request.tables === undefined ? {} : request.tables);
  const code = K.KustoCode.ParseAndAnalyze(request.query, globals);
  const response = {
    diagnostics: describeDiagnostics(code.GetDiagnostics(), request.query),
    columns: resultColumns(code),
    result_type: code.ResultType ? code.ResultType.Name : null,
  };
  if (request.lint) {
    const service = new K.Editor.KustoCodeService.ctor(code);
    response.lint = describeDiagnostics(service.GetAnalyzerDiagnostics(true), request.query);
  }
  return response;
}

function isStringLiteral(expression) {
  return Bridge.is(expression, K.Syntax.LiteralExpression) || Bridge.is(expression, K.Syntax.CompoundStringLiteralExpression);
}

// Parses `print x = <text>` and returns the value Kusto.Language assigns to the
// literal. Adjacent literals such as `"a" "b"` form one
// CompoundStringLiteralExpression, which is accepted and flagged as "compound".
function literal(request) {
  const text = request.text;
  if (typeof text !== 'string') {
    throw new RequestError('"text" must be a string');
  }
  const source = LITERAL_PREFIX + text;
  const code = K.KustoCode.ParseAndAnalyze(source, K.GlobalState.Default);
  const diagnostics = describeDiagnostics(code.GetDiagnostics(), source).map((d) => {
    // Shift offsets so that they index `text`, not the generated source.
    return Object.assign({}, d, { start: d.start - LITERAL_PREFIX.length });
  });
  const fail = (message) => ({ ok: false, error: message, diagnostics: diagnostics });

  if (diagnostics.some((d) => d.severity === 'Error')) {
    const first = diagnostics.find((d) => d.severity === 'Error');
    return fail('invalid string literal ' + JSON.stringify(text) + ': ' + first.code + ' ' + first.message + ' at offset ' + first.start);
  }
  const expressions = code.Syntax.GetDescendants(K.Syntax.SeparatedElement$1(K.Syntax.Expression));
  const printed = toArray(expressions).map((element) => element.Element);
  if (printed.length !== 1 || !Bridge.is(printed[0], K.Syntax.SimpleNamedExpression)) {
    return fail('text ' + JSON.stringify(text) + ' is not a single expression');
  }
  const value = printed[0].Expression;
  if (!isStringLiteral(value) || value.ResultType === null || value.ResultType.Name !== 'string') {
    return fail('text ' + JSON.stringify(text) + ' is not a string literal, it parses as ' + Bridge.getTypeName(value));
  }
  // Leading or trailing whitespace and comments are trivia, which the literal
  // node does not cover. Rejecting them means the value comes from the text alone.
  if (value.TextStart !== LITERAL_PREFIX.length || value.End !== source.length) {
    return fail('text ' + JSON.stringify(text) + ' has characters outside the string literal');
  }
  return {
    ok: true,
    value: value.LiteralValue,
    compound: Bridge.is(value, K.Syntax.CompoundStringLiteralExpression),
    diagnostics: diagnostics,
  };
}

function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    return { id: null, ok: false, error: 'request is not valid JSON: ' + err.message };
  }
  const id = request && request.id !== undefined ? request.id : null;
  try {
    if (request === null || typeof request !== 'object') {
      throw new RequestError('request must be a JSON object');
    }
    let result;
    if (request.op === 'analyze') {
      result = Object.assign({ ok: true }, analyze(request));
    } else if (request.op === 'literal') {
      result = literal(request);
    } else {
      throw new RequestError('unknown op ' + JSON.stringify(request.op) + '; expected "analyze" or "literal"');
    }
    return Object.assign({ id: id }, result);
  } catch (err) {
    // A failure inside Kusto.Language (or a stack overflow on a deeply nested
    // query) is reported for this request, so that later requests still run.
    const message = err instanceof RequestError ? err.message : String(err && err.stack || err);
    return { id: id, ok: false, error: message };
  }
}

process.stdout.write(JSON.stringify({ ready: true, package: PACKAGE, version: packageVersion }) + '\n');

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', (line) => {
  if (line.trim() === '') {
    return;
  }
  process.stdout.write(JSON.stringify(handle(line)) + '\n');
});
