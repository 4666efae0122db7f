// Custom field values: every type rule of applyCustomFields and fieldFilterValue, and the stored JSON form (no database needed).
import { describe, expect, test } from "bun:test";
import { ApiError } from "../src/errors";
import { customFieldsJson, parseCustomFields, withoutValue } from "../src/ticket-fields/json";
import { applyCustomFields, fieldFilterValue, isCalendarDate } from "../src/ticket-fields/service";
import type { TicketFieldRow } from "../src/ticket-fields/store";

let seq = 0;
function def(key: string, type: TicketFieldRow["type"], over: Partial<TicketFieldRow> = {}): TicketFieldRow {
  seq++;
  return {
    id: `tfd_${String(seq).padStart(16, "0")}`,
    org_id: "org_test",
    key,
    title: key,
    type,
    options: type === "dropdown" ? JSON.stringify(["low", "high", "Ünïcödé 🔥"]) : null,
    required: 0,
    created_at: seq,
    updated_at: seq,
    ...over,
  };
}

const DEFS = [def("order_id", "text"), def("amount", "number"), def("due", "date"), def("vip", "checkbox"), def("tier", "dropdown")];

/** The 400 applyCustomFields (or fieldFilterValue) threw: its details. */
function refusal(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(400);
    expect(e.errorCode).toBe("validation_error");
    return e.details ?? [];
  }
  throw new Error("expected a 400, the call succeeded");
}

const create = (input: Record<string, unknown> | undefined, defs = DEFS) => applyCustomFields(defs, {}, input, "create");
const fieldsOf = (fn: () => unknown) => refusal(fn).map((d) => d.field);

describe("applyCustomFields: values by type", () => {
  test("text: a string, one line, 1–1000 characters, stored trimmed", () => {
    expect(create({ order_id: "A-1001" })).toEqual({ order_id: "A-1001" });
    expect(create({ order_id: "  A-1001  " })).toEqual({ order_id: "A-1001" });
    expect(create({ order_id: "x".repeat(1000) })).toEqual({ order_id: "x".repeat(1000) });
    expect(create({ order_id: "🔥".repeat(1000) })).toEqual({ order_id: "🔥".repeat(1000) });
    for (const bad of ["x".repeat(1001), "", "   ", "two\nlines", "tab\there", "\u200B", 5, true, ["a"], { a: 1 }, "\uD800"]) {
      expect(refusal(() => create({ order_id: bad }))).toEqual([{ field: "custom_fields.order_id", message: expect.stringMatching(/^must /) }]);
    }
  });

  test("number: a finite JSON number; strings and non-finite numbers are refused", () => {
    for (const n of [0, -0, 42, -1.5, 1e21, 0.1, Number.MAX_SAFE_INTEGER, -Number.MAX_VALUE]) expect(create({ amount: n })).toEqual({ amount: n });
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, "5", "1e3", "", true, [1], { n: 1 }]) {
      expect(fieldsOf(() => create({ amount: bad }))).toEqual(["custom_fields.amount"]);
    }
  });

  test("date: YYYY-MM-DD naming a real calendar day", () => {
    for (const d of ["2026-02-28", "2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "0099-06-15"]) expect(create({ due: d })).toEqual({ due: d });
    for (const bad of ["2026-02-30", "2026-02-29", "1900-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-01-00", "2026-1-5", "26-01-05"]) {
      expect(fieldsOf(() => create({ due: bad }))).toEqual(["custom_fields.due"]);
    }
    for (const bad of ["2026-01-05T00:00:00Z", " 2026-01-05", "2026/01/05", "", 20260105, true]) {
      expect(fieldsOf(() => create({ due: bad }))).toEqual(["custom_fields.due"]);
    }
  });

  test("checkbox: true or false, nothing else", () => {
    expect(create({ vip: true })).toEqual({ vip: true });
    expect(create({ vip: false })).toEqual({ vip: false });
    for (const bad of ["true", 1, 0, "", []]) expect(fieldsOf(() => create({ vip: bad }))).toEqual(["custom_fields.vip"]);
  });

  test("dropdown: exactly one of the options", () => {
    expect(create({ tier: "low" })).toEqual({ tier: "low" });
    expect(create({ tier: "Ünïcödé 🔥" })).toEqual({ tier: "Ünïcödé 🔥" });
    for (const bad of ["LOW", " low", "medium", "", 1, ["low"]]) expect(fieldsOf(() => create({ tier: bad }))).toEqual(["custom_fields.tier"]);
  });

  test("an unknown key is refused, naming it; so is a key of another type's shape", () => {
    expect(refusal(() => create({ nope: "x" }))).toEqual([{ field: "custom_fields.nope", message: expect.stringContaining("not a field") }]);
    expect(fieldsOf(() => create({ ORDER_ID: "x" }))).toEqual(["custom_fields.ORDER_ID"]);
    expect(fieldsOf(() => create({ nope: null }))).toEqual(["custom_fields.nope"]);
  });

  test("every problem is reported at once, in key order", () => {
    expect(fieldsOf(() => create({ vip: "yes", amount: "1", zzz: 1, order_id: "ok" }))).toEqual([
      "custom_fields.amount",
      "custom_fields.vip",
      "custom_fields.zzz",
    ]);
  });

  test("custom_fields that is not an object is refused", () => {
    for (const bad of [null, [], "x", 1]) expect(fieldsOf(() => create(bad as unknown as Record<string, unknown>))).toEqual(["custom_fields"]);
  });
});

describe("applyCustomFields: create, update, required", () => {
  const required = [def("order_id", "text", { required: 1 }), def("vip", "checkbox"), def("tier", "dropdown", { required: 1 })];

  test("create: the initial set; nulls are no value; no input is no values", () => {
    expect(create(undefined)).toEqual({});
    expect(create({})).toEqual({});
    expect(create({ order_id: null, vip: false })).toEqual({ vip: false });
  });

  test("create: a required field needs a non-null value", () => {
    expect(applyCustomFields(required, {}, { order_id: "A", tier: "low" }, "create")).toEqual({ order_id: "A", tier: "low" });
    expect(refusal(() => applyCustomFields(required, {}, undefined, "create"))).toEqual([
      { field: "custom_fields.order_id", message: "is required." },
      { field: "custom_fields.tier", message: "is required." },
    ]);
    expect(fieldsOf(() => applyCustomFields(required, {}, { order_id: null, tier: "low" }, "create"))).toEqual(["custom_fields.order_id"]);
    // A wrong value of a required field is reported once, as the wrong value.
    expect(refusal(() => applyCustomFields(required, {}, { order_id: 5, tier: "low" }, "create"))).toEqual([
      { field: "custom_fields.order_id", message: expect.stringContaining("string") },
    ]);
  });

  test("update: merges (keys given are set or cleared, the others kept)", () => {
    const current = { amount: 3, order_id: "A", vip: true };
    expect(applyCustomFields(DEFS, current, { vip: false, tier: "high" }, "update")).toEqual({ amount: 3, order_id: "A", tier: "high", vip: false });
    expect(applyCustomFields(DEFS, current, { amount: null }, "update")).toEqual({ order_id: "A", vip: true });
    expect(applyCustomFields(DEFS, current, undefined, "update")).toEqual(current);
    expect(applyCustomFields(DEFS, current, {}, "update")).toEqual(current);
    expect(current).toEqual({ amount: 3, order_id: "A", vip: true }); // not mutated
  });

  test("update: a required field cannot be cleared, but a PATCH that does not name it passes without it", () => {
    expect(refusal(() => applyCustomFields(required, { order_id: "A", tier: "low" }, { order_id: null }, "update"))).toEqual([
      { field: "custom_fields.order_id", message: "is required: it cannot be cleared." },
    ]);
    // Made required after the ticket was created without a value: other changes still go through.
    expect(applyCustomFields(required, { order_id: "A" }, { vip: true }, "update")).toEqual({ order_id: "A", vip: true });
    expect(applyCustomFields(required, { order_id: "A", tier: "low" }, { order_id: "B" }, "update")).toEqual({ order_id: "B", tier: "low" });
  });

  test("update: values whose field no longer exists are dropped; a failed update throws and returns nothing", () => {
    expect(applyCustomFields(DEFS, { gone: "x", order_id: "A" }, { vip: true }, "update")).toEqual({ order_id: "A", vip: true });
    expect(fieldsOf(() => applyCustomFields(DEFS, { order_id: "A" }, { gone: "x" }, "update"))).toEqual(["custom_fields.gone"]);
  });

  test("the result's keys are sorted (byte order), whatever the input order", () => {
    const defs = [def("zeta", "text"), def("alpha", "text"), def("mid_1", "number"), def("mid_10", "number"), def("10", "number"), def("9", "number")];
    const out = applyCustomFields(defs, { zeta: "z" }, { mid_10: 1, alpha: "a", mid_1: 2, "9": 9, "10": 10 }, "update");
    expect(customFieldsJson(out)).toBe('{"10":10,"9":9,"alpha":"a","mid_1":2,"mid_10":1,"zeta":"z"}');
    // Object key order of a JavaScript object (integer-like keys first) aside, the non-integer keys are in order.
    expect(Object.keys(out).filter((k) => !/^\d+$/.test(k))).toEqual(["alpha", "mid_1", "mid_10", "zeta"]);
  });
});

describe("fieldFilterValue: query-string values by type", () => {
  const [text, number, date, checkbox, dropdown] = DEFS as [TicketFieldRow, TicketFieldRow, TicketFieldRow, TicketFieldRow, TicketFieldRow];
  test("text and dropdown: the string as sent (a removed option still matches its tickets)", () => {
    expect(fieldFilterValue(text, "A-1001")).toBe("A-1001");
    expect(fieldFilterValue(text, " spaced ")).toBe(" spaced ");
    expect(fieldFilterValue(dropdown, "low")).toBe("low");
    expect(fieldFilterValue(dropdown, "not-an-option-any-more")).toBe("not-an-option-any-more");
  });
  test("number: decimal numbers only", () => {
    expect(fieldFilterValue(number, "42")).toBe(42);
    expect(fieldFilterValue(number, "-1.5")).toBe(-1.5);
    expect(fieldFilterValue(number, "1e21")).toBe(1e21);
    expect(fieldFilterValue(number, "0")).toBe(0);
    for (const bad of ["", " 1", "1 ", "+1", "0x10", "1e999", "NaN", "Infinity", "1.", ".5", "01", "abc"]) {
      expect(refusal(() => fieldFilterValue(number, bad))).toEqual([{ field: "custom_fields[amount]", message: expect.stringMatching(/^must /) }]);
    }
  });
  test("date: a calendar YYYY-MM-DD", () => {
    expect(fieldFilterValue(date, "2024-02-29")).toBe("2024-02-29");
    for (const bad of ["2026-02-30", "2026-2-3", "", "today"]) expect(fieldsOf(() => fieldFilterValue(date, bad))).toEqual(["custom_fields[due]"]);
  });
  test("checkbox: true or false", () => {
    expect(fieldFilterValue(checkbox, "true")).toBe(true);
    expect(fieldFilterValue(checkbox, "false")).toBe(false);
    for (const bad of ["1", "0", "TRUE", "yes", ""]) expect(fieldsOf(() => fieldFilterValue(checkbox, bad))).toEqual(["custom_fields[vip]"]);
  });
});

describe("the stored JSON form", () => {
  test("isCalendarDate agrees with leap years", () => {
    expect([2000, 2004, 2024, 2400].every((y) => isCalendarDate(`${y}-02-29`))).toBe(true);
    expect([1900, 2100, 2023, 2026].some((y) => isCalendarDate(`${y}-02-29`))).toBe(false);
  });
  test("customFieldsJson: minified, keys in byte order, values as JSON.stringify writes them; withoutValue keeps that form", () => {
    const values = { b: 'é\u2028"\\/\n😀', a: 1e21, "10": 0.1, "9": false, c: -5 };
    const text = customFieldsJson(values);
    expect(text).toBe('{"10":0.1,"9":false,"a":1e+21,"b":"é\u2028\\"\\\\/\\n😀","c":-5}');
    expect(parseCustomFields(text)).toEqual(values);
    expect(withoutValue(text, "a")).toBe('{"10":0.1,"9":false,"b":"é\u2028\\"\\\\/\\n😀","c":-5}');
    expect(withoutValue(text, "absent")).toBe(text);
    expect(withoutValue('{"z":1,"a":2}', "q")).toBe('{"a":2,"z":1}');
    expect(customFieldsJson({})).toBe("{}");
    expect(parseCustomFields("[]")).toEqual({});
  });
});
