import { createHash } from 'node:crypto';
import { integerParameter, invalidParameter, SqsError } from './errors';

/**
 * What a message is made of, and every rule SQS applies to one before accepting it
 * (SQS Developer Guide, "Amazon SQS message quotas" and "Amazon SQS message attributes";
 * API Reference, SendMessage).
 */
export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

export type MessageAttributes = Record<string, MessageAttributeValue>;

export interface SendEntry {
  MessageBody?: unknown;
  DelaySeconds?: unknown;
  MessageAttributes?: MessageAttributes;
  MessageSystemAttributes?: Record<string, MessageAttributeValue>;
}

/** Batch requests may carry at most 1 MiB in total, whatever the queue's MaximumMessageSize (SendMessageBatch). */
export const BATCH_MAX_BYTES = 1_048_576;
const MAX_MESSAGE_ATTRIBUTES = 10;

const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');
export const md5OfBody = (body: string) => md5(body);

/** AWS's checksum of message attributes: name, type and value, length-prefixed, sorted by name. */
export function md5OfMessageAttributes(attributes: MessageAttributes): string | undefined {
  const names = Object.keys(attributes).sort();
  if (names.length === 0) return undefined;
  const chunks: Buffer[] = [];
  const lengthPrefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  };
  for (const name of names) {
    const value = attributes[name];
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined) {
      chunks.push(Buffer.from([2]));
      lengthPrefixed(Buffer.from(value.BinaryValue, 'base64'));
    } else {
      chunks.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return md5(Buffer.concat(chunks));
}

/** The characters SQS allows in a body and in string values: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. */
function hasOnlyAllowedCharacters(text: string): boolean {
  for (const char of text) {
    const code = char.codePointAt(0)!;
    const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) return false;
  }
  return true;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function validateAttributes(attributes: MessageAttributes): void {
  const names = Object.keys(attributes);
  if (names.length > MAX_MESSAGE_ATTRIBUTES) throw invalidParameter('MessageAttributes', `(${names.length} attributes)`, `Number of message attributes [${names.length}] exceeds the allowed maximum [${MAX_MESSAGE_ATTRIBUTES}].`);
  for (const name of names) {
    const value = attributes[name];
    // Names: alphanumerics, '-', '_', '.'; no leading, trailing or doubled period; AWS. and Amazon. are reserved.
    if (!/^[A-Za-z0-9_.-]{1,256}$/.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
      throw invalidParameter('MessageAttributes', name, `Message (user) attribute name '${name}' is invalid.`);
    }
    if (/^(aws|amazon)\./i.test(name)) throw invalidParameter('MessageAttributes', name, `Message (user) attribute name '${name}' is reserved for use by SQS.`);
    const dataType = typeof value?.DataType === 'string' ? value.DataType : '';
    const baseType = /^(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$/.exec(dataType)?.[1];
    if (!baseType || dataType.length > 256) throw invalidParameter('MessageAttributes', dataType, `Message (user) attribute '${name}' has an invalid data type '${dataType}'.`);
    if (baseType === 'Binary') {
      if (typeof value.BinaryValue !== 'string' || value.BinaryValue.length === 0 || value.StringValue !== undefined) {
        throw invalidParameter('MessageAttributes', name, `Message (user) attribute '${name}' must contain a non-empty value of type 'Binary'.`);
      }
      continue;
    }
    if (typeof value.StringValue !== 'string' || value.StringValue.length === 0 || value.BinaryValue !== undefined) {
      throw invalidParameter('MessageAttributes', name, `Message (user) attribute '${name}' must contain a non-empty value of type '${baseType}'.`);
    }
    if (!hasOnlyAllowedCharacters(value.StringValue)) throw invalidParameter('MessageAttributes', name, `Message (user) attribute '${name}' contains characters outside the allowed set.`);
    // Numbers: up to 38 digits of precision.
    if (baseType === 'Number' && (!NUMBER.test(value.StringValue) || value.StringValue.replace(/[eE].*$/, '').replace(/\D/g, '').replace(/^0+(?=\d)/, '').length > 38)) {
      throw invalidParameter('MessageAttributes', value.StringValue, `Message (user) attribute '${name}' must contain a valid number.`);
    }
  }
}

/** Bytes a message counts against MaximumMessageSize: its body plus each attribute's name, type and value. */
export function messageBytes(body: string, attributes: MessageAttributes): number {
  let total = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    total += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(value.DataType, 'utf8');
    total += value.BinaryValue !== undefined ? Buffer.from(value.BinaryValue, 'base64').length : Buffer.byteLength(value.StringValue ?? '', 'utf8');
  }
  return total;
}

export interface ValidMessage {
  body: string;
  attributes: MessageAttributes;
  delaySeconds: number | undefined;
  bytes: number;
}

/** Checks one SendMessage (or batch entry) against the queue's size limit; throws what SQS answers. */
export function validateSendEntry(entry: SendEntry, maximumMessageBytes: number): ValidMessage {
  if (typeof entry.MessageBody !== 'string' || entry.MessageBody.length === 0) {
    throw new SqsError('MissingParameter', 'The request must contain the parameter MessageBody.');
  }
  if (!hasOnlyAllowedCharacters(entry.MessageBody)) {
    throw new SqsError('InvalidMessageContents', 'Invalid binary character in the message body: characters outside #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF are not allowed.');
  }
  const attributes = entry.MessageAttributes ?? {};
  validateAttributes(attributes);
  // Only AWSTraceHeader is a message system attribute a sender may set (SendMessage, MessageSystemAttributes).
  for (const name of Object.keys(entry.MessageSystemAttributes ?? {})) {
    if (name !== 'AWSTraceHeader') throw invalidParameter('MessageSystemAttributes', name, `Message system attribute name '${name}' is invalid.`);
  }
  const delaySeconds = integerParameter('DelaySeconds', entry.DelaySeconds, 0, 900);
  const bytes = messageBytes(entry.MessageBody, attributes);
  if (bytes > maximumMessageBytes) {
    throw new SqsError('InvalidParameterValue', `One or more parameters are invalid. Reason: Message must be shorter than ${maximumMessageBytes} bytes.`);
  }
  return { body: entry.MessageBody, attributes, delaySeconds, bytes };
}
