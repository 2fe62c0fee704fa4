/** The typed catalog: every example fits its schema, and a mismatch is named in one line. */
import { expect } from 'chai';
import { CATALOG, EVENT_CATALOG, EVENT_SCHEMAS } from '../../src/catalog.js';
import { dataProblem } from '../../src/delivery/schemas.js';

describe('event catalog schemas', () => {
  it('has a schema for every catalog type, and every example validates against it', () => {
    expect(Object.keys(EVENT_SCHEMAS).sort()).to.deep.equal(Object.values(EVENT_CATALOG).flat().sort());
    for (const c of CATALOG) expect(dataProblem(c.type, c.example), c.type).to.equal(null);
  });

  it('names what does not fit, and leaves types outside the catalog alone', () => {
    expect(dataProblem('enrollment.created', { student_id: 7, course_id: 'c1' })).to.equal(
      'data does not match the enrollment.created schema: data.student_id must be string; delivered anyway',
    );
    expect(dataProblem('order.completed', { total: 4900, currency: 'EUR' })).to.equal(
      'data does not match the order.completed schema: data has no order_id; delivered anyway',
    );
    expect(dataProblem('payment.completed', { payment_id: 'p', amount: 49.9, currency: 'EUR' })).to.match(
      /data\.amount must be integer/,
    );
    expect(dataProblem('student.registered', { student_id: 's', email: 'not an email' })).to.match(
      /data\.email must match format "email"/,
    );
    expect(dataProblem('badge.awarded', { anything: true })).to.equal(null);
    // Optional fields may be null: an LMS without the value.
    expect(dataProblem('enrollment.created', { student_id: 's', course_id: 'c', student_name: null })).to.equal(null);
  });
});
