/** Reads one request or response header by lower-case name; undefined when absent. */
export type HeaderGetter = (name: string) => string | undefined;

type HeaderRecord = Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * Adapts a plain header record (Node's IncomingHttpHeaders, a signRpcRequest result) to a
 * HeaderGetter. A repeated header is joined with ", " so it fails format checks instead of
 * one copy being picked silently.
 */
export function headerGetterFromRecord(headers: HeaderRecord): HeaderGetter {
  return (name) => {
    const value = headers[name.toLowerCase()];
    if (value === undefined) return undefined;
    return typeof value === "string" ? value : value.join(", ");
  };
}
