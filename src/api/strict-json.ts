// The proto3 JSON a Connect client sends, checked strictly before it is decoded: the protobuf
// library's own JSON reading is lenient where a typo should be an error. It accepts "0x10" or
// "1e1" as the number 16 or 10, and a malformed duration gets a message that names nothing
// ("Invalid count value: -1" for "1.0000000001s"). Unknown fields are refused by the decoder
// itself (ignoreUnknownFields: false, as the proto3 JSON mapping recommends); this check names
// them first, with the path of the message they were found in. Every error names the field.
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '../shared/errors.js';
import { mapEntryName, quoteBounded } from '../shared/text-bounds.js';

const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;
const DURATION_TEXT = /^(-?)([0-9]{1,12})(?:\.([0-9]{1,9}))?s$/;
// Proto's Duration range: ±315,576,000,000 s (10,000 years).
const MAX_DURATION_SECONDS = 315_576_000_000;

function show(value: unknown): string {
  if (typeof value === 'string') return quoteBounded(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : 'a value';
}

const INT32_RANGE: Partial<Record<ScalarType, [number, number]>> = {
  [ScalarType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.SINT32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.SFIXED32]: [-(2 ** 31), 2 ** 31 - 1],
  [ScalarType.UINT32]: [0, 2 ** 32 - 1],
  [ScalarType.FIXED32]: [0, 2 ** 32 - 1],
};

function checkInteger(path: string, json: unknown, bits: 32 | 64, range?: [number, number]): void {
  let text: string;
  if (typeof json === 'number') {
    if (!Number.isInteger(json)) {
      throw new InvalidArgumentError(path, `must be a whole number, got ${show(json)}`);
    }
    if (!Number.isSafeInteger(json)) {
      // Past 2^53 a JSON number has lost digits already; proto3 JSON writes those as strings.
      throw new InvalidArgumentError(path, `${json} is out of range`);
    }
    text = String(json);
  } else if (typeof json === 'string') {
    if (!INTEGER_TEXT.test(json)) {
      throw new InvalidArgumentError(
        path,
        `must be a whole number written in decimal (a JSON number or a string of digits), got ${show(json)}`,
      );
    }
    text = json;
  } else {
    throw new InvalidArgumentError(path, `must be a number, got ${show(json)}`);
  }
  if (bits === 32 && range) {
    const n = Number(text);
    if (n < range[0] || n > range[1]) {
      throw new InvalidArgumentError(path, `${text} is out of range (${range[0]} to ${range[1]})`);
    }
  } else if (bits === 64) {
    const n = BigInt(text);
    if (n > 2n ** 64n - 1n || n < -(2n ** 63n)) {
      throw new InvalidArgumentError(path, `${quoteBounded(text)} is out of range for 64 bits`);
    }
  }
}

function checkScalar(path: string, scalar: ScalarType, json: unknown): void {
  switch (scalar) {
    case ScalarType.STRING:
      if (typeof json !== 'string') {
        throw new InvalidArgumentError(path, `must be a string, got ${show(json)}`);
      }
      return;
    case ScalarType.BOOL:
      if (typeof json !== 'boolean') {
        throw new InvalidArgumentError(path, `must be true or false, got ${show(json)}`);
      }
      return;
    case ScalarType.BYTES:
      if (typeof json !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(json)) {
        throw new InvalidArgumentError(path, 'must be base64 text');
      }
      return;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      checkInteger(path, json, 64);
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof json === 'number') return;
      if (json === 'NaN' || json === 'Infinity' || json === '-Infinity') return;
      if (typeof json === 'string' && /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(json)) return;
      throw new InvalidArgumentError(path, `must be a number, got ${show(json)}`);
    default:
      checkInteger(path, json, 32, INT32_RANGE[scalar]);
  }
}

function checkDuration(path: string, json: unknown): void {
  const match = typeof json === 'string' ? DURATION_TEXT.exec(json) : null;
  if (!match || Number(match[2]) > MAX_DURATION_SECONDS) {
    throw new InvalidArgumentError(
      path,
      `must be a duration in seconds ending in "s", with at most 9 decimals (such as "90s" or "1.5s"), got ${show(json)}`,
    );
  }
}

function checkEnum(path: string, field: DescField, json: unknown): void {
  const desc = field.enum;
  if (!desc) return;
  if (typeof json === 'string') {
    if (desc.values.some((v) => v.name === json)) return;
    throw new InvalidArgumentError(
      path,
      `${show(json)} is not one of ${desc.values.map((v) => v.name).join(', ')}`,
    );
  }
  if (typeof json === 'number' && Number.isInteger(json)) return;
  throw new InvalidArgumentError(path, `must be an enum name, got ${show(json)}`);
}

function checkValue(path: string, field: DescField, json: unknown, item: boolean): void {
  if (json === null) return; // proto3 JSON: null is the field's default
  const kind = item && field.fieldKind === 'list' ? field.listKind : field.fieldKind;
  if (kind === 'scalar') {
    checkScalar(path, field.scalar as ScalarType, json);
  } else if (kind === 'enum') {
    checkEnum(path, field, json);
  } else if (kind === 'message' && field.message) {
    checkMessage(field.message, json, `${path}.`);
  }
}

/** Throws InvalidArgumentError naming the first field that is not written as proto3 JSON asks. */
export function checkStrictJson(desc: DescMessage, json: unknown, path = ''): void {
  checkMessage(desc, json, path);
}

function checkMessage(desc: DescMessage, json: unknown, path: string): void {
  const where = path === '' ? 'the request' : path.slice(0, -1);
  if (desc.typeName === 'google.protobuf.Duration') return checkDuration(where, json);
  if (desc.typeName.startsWith('google.protobuf.')) return; // the decoder's own checks
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidArgumentError(where, `must be a JSON object, got ${show(json)}`);
  }
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) {
      // A key that is not a name (empty, long, odd characters) is shown quoted and cut.
      const shown = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key) ? key : quoteBounded(key);
      throw new InvalidArgumentError(
        `${path}${shown}`,
        `unknown field (${desc.typeName} has ${desc.fields.map((f) => f.jsonName).join(', ')})`,
      );
    }
    const name = `${path}${field.name}`;
    if (value === null) continue;
    if (field.fieldKind === 'list') {
      if (!Array.isArray(value)) throw new InvalidArgumentError(name, 'must be a JSON list');
      value.forEach((item, i) => checkValue(`${name}[${i}]`, field, item, true));
    } else if (field.fieldKind === 'map') {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new InvalidArgumentError(name, 'must be a JSON object');
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const at = mapEntryName(name, k);
        if (field.mapKind === 'scalar') checkScalar(at, field.scalar, v);
        else if (field.mapKind === 'message') checkMessage(field.message, v, `${at}.`);
      }
    } else {
      checkValue(name, field, value, false);
    }
  }
}
