import { outputSuite } from './output-suite.js';

outputSuite('embedded');
