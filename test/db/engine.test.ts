import { expect } from 'chai';
import { engineProblem } from '../../src/db/engine.js';

describe('database engine check', () => {
  it('refuses TiDB, naming why, and a read-only server; takes MySQL and MariaDB', () => {
    expect(engineProblem('8.0.11-TiDB-v7.5.0', false)).to.match(
      /^the database is TiDB \(8\.0\.11-TiDB-v7\.5\.0\): its SELECT … FOR UPDATE SKIP LOCKED takes no row lock/,
    );
    expect(engineProblem('8.0.36', true)).to.match(/read-only \(@@read_only = 1, 8\.0\.36\)/);
    expect(engineProblem('10.11.19-MariaDB-0+deb12u1', false)).to.equal(null);
    expect(engineProblem('8.4.3', false)).to.equal(null);
  });
});
