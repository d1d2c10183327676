// nunjucks ships no typings for the step between parsing and compiling; render.ts uses it to
// compile statements with every output marked (see compileStatement there).
declare module 'nunjucks/src/transformer.js' {
  const transformer: { transform(ast: unknown, asyncFilters: string[], name: string): unknown };
  export default transformer;
}
