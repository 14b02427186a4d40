// Checks of the team props (users, hold limit, e-mail), with errors that say what to pass.

/**
 * At most this many users per stack: each user adds 12 or 13 outputs, and CloudFormation
 * allows 200 outputs (and 500 resources) per stack. A larger team deploys a second stack.
 */
export const MAX_USERS = 12;

/** A user name as it appears in tags, names and outputs: a Linux login name, lower case. */
const USER_NAME = /^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$/;

/** A group name as Debian's adduser accepts it (NAME_REGEX), at most 32 characters. */
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The daemon's range for hold limits: 1 minute to 30 days ([Control] in trnidled.conf(5)). */
const HOLD_MIN_HOURS = 1 / 60;
const HOLD_MAX_HOURS = 30 * 24;

/** The daemon's default MaxHoldSec (1d): a user limit above it needs MaxHoldSec raised too. */
const DAEMON_MAX_HOLD_HOURS = 24;

/** The part of a user name that CloudFormation keeps in an output name (letters and digits). */
export function outputKey(user: string): string {
  return user.replace(/[^A-Za-z0-9]/g, '');
}

/** Checks the user list: names, duplicates, and the per-stack limit. */
export function checkUsers(users: readonly string[]): string[] {
  if (users.length > MAX_USERS) {
    throw new Error(
      `users: ${users.length} users, at most ${MAX_USERS} per stack (CloudFormation's 200 outputs); ` +
        'deploy the others in a second stack: -c stackName=TrnidledStack2 -c users=...',
    );
  }
  const keys = new Map<string, string>();
  for (const user of users) {
    if (user.length > 32 || !USER_NAME.test(user)) {
      throw new Error(
        `users: '${user}' is not a user name: lower-case letters and digits, starting with a letter, ` +
          'with single . _ or - between them, at most 32 characters (e.g. -c users=alice,bob,carol)',
      );
    }
    const key = outputKey(user);
    const other = keys.get(key);
    if (other !== undefined) {
      throw new Error(`users: '${other}' and '${user}' would have the same output names (${key}...); rename one`);
    }
    keys.set(key, user);
  }
  return [...users];
}

/** Splits a comma-separated context value, dropping blanks: "alice, bob," -> [alice, bob]. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

export interface HoldPolicy {
  /** [Control] UserMaxHoldSec= */
  readonly userMaxHold?: string;
  /** [Control] MaxHoldSec=, only when the user limit is above the daemon's 1d default. */
  readonly maxHold?: string;
  /** [Control] AdminGroup= */
  readonly adminGroup?: string;
}

/** The daemon's hold policy from maxHoldHours and adminGroup, checked. */
export function holdPolicy(maxHoldHours: number | undefined, adminGroup: string | undefined): HoldPolicy {
  if (adminGroup !== undefined && !GROUP_NAME.test(adminGroup)) {
    throw new Error(
      `adminGroup: '${adminGroup}' is not a group name: lower-case letters, digits, _ and -, ` +
        'starting with a letter or _, at most 32 characters (e.g. -c adminGroup=sudo)',
    );
  }
  if (maxHoldHours === undefined) {
    return { adminGroup };
  }
  if (!Number.isFinite(maxHoldHours) || maxHoldHours < HOLD_MIN_HOURS || maxHoldHours > HOLD_MAX_HOURS) {
    throw new Error(
      `maxHoldHours: ${maxHoldHours} is not a number of hours from 1/60 (one minute) to ${HOLD_MAX_HOURS} ` +
        '(30 days), the range of the daemon\'s UserMaxHoldSec (e.g. -c maxHoldHours=4)',
    );
  }
  const minutes = maxHoldHours * 60;
  if (Math.abs(minutes - Math.round(minutes)) > 1e-9) {
    throw new Error(`maxHoldHours: ${maxHoldHours} is not a whole number of minutes (e.g. 1.5 or 0.25)`);
  }
  const duration = Number.isInteger(maxHoldHours) ? `${maxHoldHours}h` : `${Math.round(minutes)}min`;
  return {
    userMaxHold: duration,
    maxHold: maxHoldHours > DAEMON_MAX_HOLD_HOURS ? duration : undefined,
    adminGroup,
  };
}

/** Checks e-mail addresses for the topic's subscriptions (SNS confirms each by mail). */
export function checkEmails(emails: readonly string[]): string[] {
  for (const email of emails) {
    if (!/^[^@\s,]+@[^@\s,]+\.[^@\s,]+$/.test(email)) {
      throw new Error(`notifyEmail: '${email}' is not an e-mail address (e.g. -c notifyEmail=team@example.com)`);
    }
  }
  return [...emails];
}
