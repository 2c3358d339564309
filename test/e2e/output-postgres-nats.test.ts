import { outputSuite } from './output-suite.js';

outputSuite('postgres+nats');
