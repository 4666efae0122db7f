// Page arithmetic shared by every list: `page`/`per_page` in, `{page, per_page, total}` out, by offset or by keyset.

/** Results per page when the client does not say. */
export const DEFAULT_PER_PAGE = 25;
/** The most results one page may hold. */
export const MAX_PER_PAGE = 100;

/** What a list request says about paging (the query schema has checked the ranges). */
export interface PageQuery {
  page?: number;
  per_page?: number;
}

/** The `meta` of every list response. */
export interface PageMeta {
  page: number;
  per_page: number;
  /** Items matching the filters, across all pages. */
  total: number;
}

export interface Page<T> {
  data: T[];
  meta: PageMeta;
}

/**
 * Page `q.page` of a list of `total` items, newest first as the store orders them. `fetch(limit, offset)` reads the
 * rows; it is not called for a page past the end, so a deep page number costs no query beyond the count.
 */
export async function offsetPage<R, T>(
  q: PageQuery,
  total: number,
  fetch: (limit: number, offset: number) => Promise<R[]>,
  map: (row: R) => T,
): Promise<Page<T>> {
  const page = q.page ?? 1;
  const perPage = q.per_page ?? DEFAULT_PER_PAGE;
  const offset = (page - 1) * perPage;
  const rows = offset >= total ? [] : await fetch(perPage, offset);
  return { data: rows.map(map), meta: { page, per_page: perPage, total } };
}

/** The number of the page after this one, or null when this one reaches the end. */
export function nextPageNumber(meta: PageMeta): number | null {
  return meta.page * meta.per_page < meta.total ? meta.page + 1 : null;
}

/**
 * The page that follows a cursor (keyset mode: one index seek at any depth). `fetch(limit)` is asked for one row
 * more than the page, which says whether another page follows without counting; `last` is then the page's last
 * row (the next cursor), null at the end. `meta.page` is 1: a keyset page has no number.
 */
export async function keysetPage<R, T>(
  q: PageQuery,
  total: number,
  fetch: (limit: number) => Promise<R[]>,
  map: (row: R) => T,
): Promise<{ page: Page<T>; last: R | null }> {
  const perPage = q.per_page ?? DEFAULT_PER_PAGE;
  const rows = await fetch(perPage + 1);
  const more = rows.length > perPage;
  if (more) rows.pop();
  return { page: { data: rows.map(map), meta: { page: 1, per_page: perPage, total } }, last: more ? rows[rows.length - 1]! : null };
}
