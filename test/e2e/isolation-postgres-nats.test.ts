import { isolationSuite } from './isolation-suite.js';

isolationSuite('postgres+nats');
