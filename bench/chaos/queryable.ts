// What the checks need of a database handle: a pg Pool or Client, or the project's Db.
export interface Queryable {
  query<R extends Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: R[] }>;
}
