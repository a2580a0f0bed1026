// signInData: an opaque base64 blob the client caches at logon and hands back in
// initiateSession. Its decoded form is a small XML document of the user's phone
// details, as in the reference example.
import type { DirectoryUser } from '../engine/ports.js';
import { element, textElement } from './xml.js';

export function renderSignInData(user: DirectoryUser): string {
  const xml = element(
    'signInData',
    {},
    textElement('workPhone', user.phone ?? '') +
      textElement('homePhone', '') +
      textElement('mobilePhone', '') +
      textElement('otherPhone', '') +
      textElement('office', user.office ?? ''),
  );
  return Buffer.from(xml, 'utf8').toString('base64');
}
